// *1.2*: live without WebSocket. The page's WebSocket fails as proxies make
// it fail (a proxy that answers upgrades with 403; one that opens and passes
// nothing; one that closes it mid-session): the page goes live over HTTP by
// itself, chats both ways, survives a server restart, and moves back to
// WebSocket once it works again, losing and doubling nothing.
import { test, expect, type Page } from "@playwright/test";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import {
  chooseName,
  hydrated,
  ids,
  joinRoom,
  send,
  startServer,
  stopServer,
  texts,
  uid,
  watchConsole,
  WireClient,
} from "./helpers";

const serverPort = Number(process.env.E2E_PORT ?? 3100) + 2;
const proxyPort = serverPort + 1;
const origin = `http://127.0.0.1:${proxyPort}`;

// What Chromium logs when a WebSocket is refused or the server is down:
// expected here, and nothing the page wrote.
const REFUSED = [
  /WebSocket connection to .* failed/,
  /ERR_CONNECTION_REFUSED/,
  /Failed to load resource/,
  /WebSocket unavailable: going live over HTTP/,
  /EventSource/,
];

/**
 * A TCP proxy in front of the server that answers WebSocket upgrades with
 * 403 while `blocking` is set, as corporate proxies do, and passes
 * everything else through.
 */
function blockingProxy(port: number, upstream: number) {
  const state = { blocking: true, upgrades: 0, refused: 0 };
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    open.add(client);
    client.on("close", () => open.delete(client));
    client.once("data", (first) => {
      const upgrade = /^upgrade:\s*websocket/im.test(first.toString("latin1"));
      if (upgrade) state.upgrades++;
      if (upgrade && state.blocking) {
        state.refused++;
        client.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 9\r\nconnection: close\r\n\r\nforbidden");
        return;
      }
      const up = net.connect(upstream, "127.0.0.1", () => {
        up.write(first);
        client.pipe(up);
        up.pipe(client);
      });
      const end = () => {
        client.destroy();
        up.destroy();
      };
      up.on("error", end);
      client.on("error", end);
      up.on("close", end);
      client.on("close", end);
    });
  });
  return {
    state,
    listen: () => new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r())),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const socket of open) socket.destroy();
      }),
  };
}

let dataDir = "";
const start = () => startServer(serverPort, { CHAT_DATA_DIR: dataDir });

async function person(browser: any, name: string): Promise<{ page: Page; problems: string[] }> {
  const page: Page = await (await browser.newContext()).newPage();
  const problems = watchConsole(page, REFUSED);
  await page.goto(`${origin}/`);
  await chooseName(page, name);
  return { page, problems };
}

test("behind a proxy that refuses WebSocket: live over HTTP, a restart, and back to WebSocket", async ({
  browser,
}) => {
  test.setTimeout(60_000);
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "chat-e2e-fallback-"));
  let server = await start();
  const proxy = blockingProxy(proxyPort, serverPort);
  await proxy.listen();
  try {
    const room = `http-${uid()}`;
    const [ana, bo] = [`ana-${uid()}`, `bo-${uid()}`];
    const a = await person(browser, ana);
    const b = await person(browser, bo);
    for (const p of [a.page, b.page]) {
      await expect(p.getByTestId("fallback-note")).toBeVisible();
      await joinRoom(p, room);
    }
    expect(proxy.state.refused).toBeGreaterThan(0);
    // Presence and typing, then messages both ways.
    for (const p of [a.page, b.page]) {
      await expect(p.getByTestId("members")).toContainText(ana);
      await expect(p.getByTestId("members")).toContainText(bo);
    }
    await a.page.getByTestId("composer").pressSequentially("hel");
    await expect(b.page.getByTestId("typing")).toHaveText(`${ana} is typing…`);
    await send(a.page, "one");
    await send(b.page, "two");
    for (const p of [a.page, b.page]) await expect.poll(() => texts(p)).toEqual(["one", "two"]);

    // The server restarts mid-conversation; a message is written meanwhile.
    await stopServer(server);
    await expect(a.page.getByTestId("banner")).toContainText(/Reconnecting/);
    await send(a.page, "queued while down");
    server = await start();
    for (const p of [a.page, b.page]) {
      await expect(p.getByTestId("banner")).toHaveCount(0, { timeout: 40_000 });
      await expect.poll(() => texts(p), { timeout: 20_000 }).toEqual(["one", "two", "queued while down"]);
      expect(await ids(p)).toEqual([1, 2, 3]);
    }
    await send(b.page, "after the restart");
    for (const p of [a.page, b.page]) {
      await expect.poll(() => texts(p)).toEqual(["one", "two", "queued while down", "after the restart"]);
    }

    // The proxy lets WebSocket through again: at the next welcome over HTTP
    // (a reload; the page remembers the fallback and starts on it) the page
    // checks, and moves back.
    proxy.state.blocking = false;
    for (const p of [a.page, b.page]) {
      await p.reload();
      await hydrated(p);
      await expect(p.getByTestId("fallback-note")).toHaveCount(0, { timeout: 20_000 });
    }
    const all = ["one", "two", "queued while down", "after the restart"];
    await a.page.getByTestId(`room-${room}`).click();
    await send(a.page, "over WebSocket");
    for (const p of [a.page, b.page]) {
      await expect.poll(() => texts(p), { timeout: 20_000 }).toEqual([...all, "over WebSocket"]);
      expect(await ids(p)).toEqual([1, 2, 3, 4, 5]);
    }
    expect([...a.problems, ...b.problems]).toEqual([]);
  } finally {
    await proxy.close();
    await stopServer(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test("a WebSocket that opens and passes nothing, or closes mid-session, falls back within seconds", async ({
  browser,
  baseURL,
}) => {
  const room = `silent-${uid()}`;
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const problems = watchConsole(page, REFUSED);
  // First: the real WebSocket, closed from the middle once the page is in.
  let mode: "pass" | "silent" = "pass";
  const routed: { close: () => Promise<void> }[] = [];
  await page.routeWebSocket(/\/ws$/, (ws) => {
    if (mode === "pass") {
      ws.connectToServer();
      routed.push(ws);
    }
    // "silent": accepted, and nothing ever comes.
  });
  await page.goto(`${baseURL}/`);
  const name = `cy-${uid()}`;
  await chooseName(page, name);
  await joinRoom(page, room);
  await expect(page.getByTestId("fallback-note")).toHaveCount(0);
  const wire = await WireClient.connect(baseURL!.replace("http", "ws") + "/ws");
  wire.send({ type: "hello", name: `wire-${uid()}` });
  wire.send({ type: "join", room });
  await wire.waitFor((f) => f.type === "joined");
  wire.send({ type: "send", room, text: "before" });
  await expect.poll(() => texts(page)).toEqual(["before"]);

  mode = "silent";
  for (const ws of routed) await ws.close();
  await expect(page.getByTestId("fallback-note")).toBeVisible({ timeout: 20_000 });
  wire.send({ type: "send", room, text: "over HTTP" });
  await send(page, "from the page");
  await wire.waitFor((f) => f.type === "message" && f.text === "from the page");
  await expect.poll(() => texts(page)).toEqual(["before", "over HTTP", "from the page"]);
  expect(await ids(page)).toEqual([1, 2, 3]);
  wire.close();
  expect(problems).toEqual([]);
});
