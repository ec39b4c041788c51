// Protocol 1.2: Chromium offers permessage-deflate on its own; the server
// agrees (no server context, the browser held to a 512-byte window), and
// the chat works through it both ways: the browser's compressed frames are
// read, and a long message (over the 1024-byte threshold) arrives whole.
import { test, expect } from "@playwright/test";
import { chooseName, send, uid, watchConsole } from "./helpers";

test("the browser and the server agree on permessage-deflate and chat through it", async ({
  page,
  browser,
}) => {
  const problems = watchConsole(page);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Network.enable");
  const answers: string[] = [];
  cdp.on("Network.webSocketHandshakeResponseReceived", (e: any) => {
    const headers = e.response.headers as Record<string, string>;
    const key = Object.keys(headers).find((k) => k.toLowerCase() === "sec-websocket-extensions");
    answers.push(key ? headers[key] : "");
  });
  await page.goto("/");
  await chooseName(page, `squeezed-${uid()}`);
  expect(answers[0]).toBe(
    "permessage-deflate; server_no_context_takeover; client_max_window_bits=9",
  );

  const other = await browser.newPage();
  await other.goto("/");
  await chooseName(other, `reader-${uid()}`);
  const long = `long ${uid()} ` + "all work and no play makes a dull chat ".repeat(40);
  await send(page, long);
  await expect(other.getByTestId("text").filter({ hasText: long.trim() })).toHaveCount(1);
  const short = `short ${uid()}`;
  await send(other, short);
  await expect(page.getByTestId("text").filter({ hasText: short })).toHaveCount(1);
  expect(problems).toEqual([]);
  await other.close();
});
