// The server restarts mid-conversation: banners, backoff, the offline queue,
// and a reconnect that shows every message exactly once and in order.
import { test, expect, type Page } from "@playwright/test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  chooseName,
  ids,
  send,
  startServer,
  stopServer,
  texts,
  uid,
  watchConsole,
  WireClient,
} from "./helpers";

const port = Number(process.env.E2E_PORT ?? 3100) + 1;
const origin = `http://127.0.0.1:${port}`;
// This test's own store, made when the test runs (not when the file is listed).
let dataDir = "";

/** The server on `port` with this test's own store. */
const start = () => startServer(port, { CHAT_DATA_DIR: dataDir });

// What Chromium itself logs while the server is down: expected here, and
// nothing the page wrote.
const OUTAGE = [/WebSocket connection to .* failed/, /ERR_CONNECTION_REFUSED/];

test("a restart mid-conversation: banner, reconnect, nothing lost or doubled", async ({ browser }) => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "chat-e2e-restart-"));
  let server = await start();
  try {
    const pages: Page[] = [];
    const problems: string[][] = [];
    for (const name of [`ana-${uid()}`, `bo-${uid()}`]) {
      const page = await (await browser.newContext()).newPage();
      problems.push(watchConsole(page, OUTAGE));
      await page.goto(`${origin}/`);
      await chooseName(page, name);
      pages.push(page);
    }
    const [a, b] = pages;
    await send(a, "one");
    await send(b, "two");
    for (const p of pages) await expect.poll(() => texts(p)).toEqual(["one", "two"]);

    await stopServer(server);
    for (const p of pages) {
      await expect(p.getByTestId("banner")).toContainText(/Reconnecting in \d+ s…/);
      await expect(p.getByRole("button", { name: "Retry now" })).toBeVisible();
    }
    // Sent while offline: queued, shown as sending, delivered after the reconnect.
    await send(a, "queued while offline");
    await expect(a.getByTestId("pending")).toContainText("sending…");

    // Page b's next try must still be seconds away when "Retry now" is
    // clicked below, or it may come back by itself first (a slow machine
    // takes seconds to restart the server): wait until its back-off has
    // grown past the 1 and 2 s tries.
    await expect(b.getByTestId("banner")).toContainText(/Reconnecting in (?:[5-9]|\d{2,}) s…/, {
      timeout: 30_000,
    });
    server = await start();
    // A script client posts right after the restart, before the pages are back.
    const script = await WireClient.connect(`ws://127.0.0.1:${port}/ws`);
    script.send({ type: "hello", name: `script-${uid()}` });
    script.send({ type: "join", room: "general" });
    for (const n of [1, 2, 3]) script.send({ type: "send", room: "general", text: `script ${n}`, nonce: `s${n}` });
    await script.waitFor((f) => f.type === "message" && f.nonce === "s3");
    script.close();

    // "Retry now" brings one page back at once; the other reconnects by itself.
    await b.getByRole("button", { name: "Retry now" }).click();
    for (const p of pages) await expect(p.getByTestId("banner")).toHaveCount(0, { timeout: 40_000 });
    // The store's order is the truth (the script and the queued message race
    // each other); both pages must show exactly it: each message once, in order.
    const check = await WireClient.connect(`ws://127.0.0.1:${port}/ws`);
    check.send({ type: "hello", name: `check-${uid()}` });
    check.send({ type: "join", room: "general" });
    const joined = await check.waitFor((f) => f.type === "joined" && f.messages.length >= 6);
    check.close();
    const expected: string[] = joined.messages.map((m: any) => m.text);
    expect([...expected].sort()).toEqual(
      ["one", "two", "script 1", "script 2", "script 3", "queued while offline"].sort(),
    );
    for (const p of pages) {
      await expect.poll(() => texts(p)).toEqual(expected);
      expect(await ids(p)).toEqual([1, 2, 3, 4, 5, 6]);
    }
    await expect(a.getByTestId("pending")).toHaveCount(0);

    // Live again, both ways.
    await send(b, "after the restart");
    for (const p of pages) await expect.poll(() => texts(p)).toEqual([...expected, "after the restart"]);
    // A reload after the restart still shows each message once.
    await a.reload();
    await expect.poll(() => texts(a)).toEqual([...expected, "after the restart"]);
    expect(problems.flat()).toEqual([]);
  } finally {
    await stopServer(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
