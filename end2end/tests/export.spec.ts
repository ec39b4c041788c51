// Issue 26: `chat admin export --format html` is a page that reads without
// the server. Chromium opens it from disk: every hostile text and name is
// there as text, no element came from them, and nothing runs (no dialog,
// the canary intact).
import { test, expect } from "@playwright/test";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { guarded, startServer, stopServer, uid, WireClient } from "./helpers";

const port = Number(process.env.E2E_PORT ?? 3100) + 7;
const ops = `127.0.0.1:${port + 1}`;

const PAYLOADS = [
  `<img src=x onerror="window.__canary='pwned';alert(1)">`,
  `<script>window.__canary='pwned';alert(2)</script>`,
  `</script><script>window.__canary='pwned';alert(3)</script>`,
  `"><svg onload="window.__canary='pwned';alert(4)">`,
  `</ol></section><iframe src="javascript:alert(5)"></iframe>`,
  `<a href="javascript:alert(6)">click me</a>`,
];

test("an HTML export shows hostile texts and names as text and runs nothing", async ({ browser }) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "chat-export-"));
  const server = await startServer(port, { CHAT_DATA_DIR: dataDir, CHAT_OPS_ADDR: ops });
  try {
    const room = `export-${uid()}`;
    const evilName = `<img src=x onerror=alert(7)>`;
    const writer = await WireClient.connect(`ws://127.0.0.1:${port}/ws`);
    writer.send({ type: "hello", name: evilName });
    await writer.waitFor((f) => f.type === "welcome");
    writer.send({ type: "join", room });
    await writer.waitFor((f) => f.type === "joined");
    for (const text of PAYLOADS) writer.send({ type: "send", room, text });
    await writer.waitFor((f) => f.type === "message" && f.id === PAYLOADS.length);
    writer.close();

    const out = path.join(dataDir, "export.html");
    const ran = spawnSync(
      process.env.E2E_SERVER ?? "../target/release/chat",
      ["admin", "--data-dir", dataDir, "--ops-addr", ops, "export", "--room", room, "--format", "html", "--out", out],
      { encoding: "utf8" },
    );
    expect(ran.status, ran.stderr).toBe(0);

    const page = await (await browser.newContext()).newPage();
    const { dialogs } = await guarded(page);
    await page.goto(`file://${out}`);
    await expect(page.locator("li.m")).toHaveCount(PAYLOADS.length);
    const shown = await page.locator("li.m .text").allInnerTexts();
    expect(shown).toEqual(PAYLOADS);
    for (const who of await page.locator("li.m .who").allInnerTexts()) expect(who).toBe(evilName);
    expect(await page.locator("h2").innerText()).toBe(`#${room}`);
    // No element came from them, and nothing ran.
    expect(await page.locator("main img, main script, main svg, main iframe, a[href^='javascript']").count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(await page.evaluate(() => (window as any).__canary)).toBe("intact");
  } finally {
    await stopServer(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
