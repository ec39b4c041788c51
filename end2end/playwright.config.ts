import { defineConfig } from "@playwright/test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

// The server under test: `E2E_SERVER`, or the release binary built by
// `cargo leptos build --release`. `make test-e2e` runs the debug binary
// `cargo test` already built (with the release bundle): CI then compiles
// the server once, not twice.
export const server = process.env.E2E_SERVER ?? "../target/release/chat";
const port = Number(process.env.E2E_PORT ?? 3100);
export const baseURL = `http://127.0.0.1:${port}`;
// A fresh store for every run, so tests never see an earlier run's messages.
const dataDir = process.env.E2E_DATA_DIR ?? fs.mkdtempSync(path.join(os.tmpdir(), "chat-e2e-"));
process.env.E2E_DATA_DIR = dataDir;

export default defineConfig({
  testDir: "./tests",
  globalTeardown: "./teardown.ts",
  timeout: 60_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: true,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL,
    screenshot: "only-on-failure",
    trace: "retain-on-failure",
    launchOptions: {
      // Debian's Chromium; Playwright's own browser download cannot work here.
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: {
    command: server,
    url: `${baseURL}/`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore",
    stderr: "pipe",
    env: {
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: "../target/site",
      // cargo-leptos builds this in; a binary `cargo test` built needs it.
      LEPTOS_OUTPUT_NAME: "chat",
      CHAT_DATA_DIR: dataDir,
      // Every page of the suite comes from 127.0.0.1: room for their names.
      CHAT_IDENTITY_BURST: "100000",
      CHAT_OPS_ADDR: "127.0.0.1:0",
      // And for their page loads.
      CHAT_PAGE_RATE_PER_SEC: "100000",
      CHAT_PAGE_BURST: "100000",
      RUST_LOG: "warn",
    },
  },
});
