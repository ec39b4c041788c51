// Timers under a clock the test controls (Playwright's page.clock), with the
// WebSocket routed through the test: reconnect backoff, the idle ping, the
// dead-connection timeout; and the take-over of an identity by another tab.
import { test, expect, type Page, type WebSocketRoute } from "@playwright/test";
import { chooseName, hydrated, joinRoom, texts, uid, watchConsole, WireClient } from "./helpers";
import { baseURL } from "../playwright.config";

/** Routes the page's WebSocket through the test; says what it saw. */
async function routed(page: Page) {
  const state = {
    /** Connections the page opened. */
    attempts: 0,
    /** Frames the page sent, on any connection. */
    fromPage: [] as string[],
    /** Drop each new connection at its first frame, before any welcome
     *  (the server is "down"). A route closed before it opens would never
     *  tell a page whose clock is paused. */
    refuse: false,
    /** Forward nothing from the server to the page (a dead connection). */
    mute: false,
    /** The connection open now. */
    current: null as WebSocketRoute | null,
  };
  // *1.2*: a page whose WebSocket is refused goes live over HTTP
  // (fallback.spec.ts); here HTTP is refused too, so these are the
  // WebSocket's own timers.
  await page.route(/\/live(\?|$)/, (route) => route.abort());
  await page.routeWebSocket(/\/ws$/, (ws) => {
    state.attempts++;
    if (state.refuse) {
      ws.onMessage(() => ws.close({ code: 1011, reason: "test: refused" }));
      return;
    }
    state.current = ws;
    const server = ws.connectToServer();
    ws.onMessage((m) => {
      state.fromPage.push(String(m));
      server.send(m);
    });
    server.onMessage((m) => {
      if (!state.mute) ws.send(m);
    });
  });
  return state;
}

/** Loads the chat with the page's clock installed, then stops that clock. */
async function loadPaused(page: Page) {
  await page.clock.install();
  await page.goto("/");
  // A second ahead of the page's own clock (the test's Date.now() may
  // already be behind it when the page took over a second to load: "Cannot
  // fast-forward to the past", seen in CI).
  const now = await page.evaluate(() => Date.now());
  await page.clock.pauseAt(now + 1_000);
}

/** Lets the page handle what real time brought (socket events), then reads `value`. */
async function settled<T>(page: Page, value: () => T): Promise<T> {
  await page.waitForTimeout(300);
  return value();
}

test("reconnects after 1, 2 and 4 s, each drawn from 75–125 %, then is live again", async ({ page }) => {
  const problems = watchConsole(page, [/WebSocket/, /ERR_FAILED/]);
  const ws = await routed(page);
  await loadPaused(page);
  await chooseName(page, `backoff-${uid()}`);
  expect(ws.attempts).toBe(1);

  ws.refuse = true;
  ws.current!.close({ code: 1011, reason: "test: dropped" });
  const banner = page.getByTestId("banner");
  for (const [attempt, step] of [[2, 1_000], [3, 2_000], [4, 4_000]]) {
    if (attempt === 4) ws.refuse = false;
    await expect(banner).toContainText(/Reconnecting in \d s/);
    await page.clock.runFor(step * 0.74);
    expect(await settled(page, () => ws.attempts), `not before 75 % of ${step} ms`).toBe(attempt - 1);
    await page.clock.runFor(step * 0.52);
    await expect.poll(() => ws.attempts, { message: `by 126 % of ${step} ms` }).toBe(attempt);
  }
  await expect(banner).toHaveCount(0);
  await expect(page.getByTestId("me")).toBeVisible();
  expect(problems).toEqual([]);
});

test("an idle page pings after 25 s, and a silent connection is replaced after 60 s", async ({ page }) => {
  const problems = watchConsole(page, [/WebSocket/]);
  const ws = await routed(page);
  await loadPaused(page);
  await chooseName(page, `timers-${uid()}`);
  const pings = () => ws.fromPage.filter((f) => JSON.parse(f).type === "ping").length;

  await page.clock.runFor(24_000);
  expect(await settled(page, pings), "no ping before 25 s idle").toBe(0);
  await page.clock.runFor(2_000);
  await expect.poll(pings).toBe(1);

  // From now on nothing reaches the page: 60 s after the last frame it
  // gives up on this connection and opens another.
  await page.waitForTimeout(300); // the pong arrives first
  ws.mute = true;
  await page.clock.runFor(58_000);
  expect(await settled(page, () => ws.attempts), "still the first connection at 58 s").toBe(1);
  ws.mute = false;
  await page.clock.runFor(3_000);
  await expect.poll(() => ws.attempts).toBe(2);
  await expect(page.getByTestId("me")).toBeVisible();
  expect(problems).toEqual([]);
});

test("another tab takes the identity over; the first offers 'Use it here' and takes it back", async ({ browser }) => {
  const context = await browser.newContext();
  const first = await context.newPage();
  const problems = watchConsole(first);
  await first.clock.install();
  await first.goto("/");
  const name = `twin-${uid()}`;
  await chooseName(first, name);

  // Same browser, same stored identity: the second tab reconnects with the token.
  const second = await context.newPage();
  problems.push(...watchConsole(second));
  await second.goto("/");
  await hydrated(second);
  await expect(second.getByTestId("me")).toContainText(name);
  await expect(first.getByTestId("banner")).toContainText("open in another tab");
  const useItHere = first.getByRole("button", { name: "Use it here" });
  await expect(useItHere).toBeVisible();

  // No automatic retry, however long it waits: the tabs never fight. A
  // retry would open a WebSocket inside runFor's timers; the evaluate after
  // it is answered only after every event from before it, so the count is
  // final when read.
  let opened = 0;
  first.on("websocket", () => opened++);
  await first.clock.runFor(120_000);
  await first.evaluate(() => 0);
  expect(opened).toBe(0);
  await expect(useItHere).toBeVisible();
  await expect(second.getByTestId("banner")).toHaveCount(0);

  await useItHere.click();
  await expect(first.getByTestId("banner")).toHaveCount(0);
  await expect(first.getByTestId("me")).toContainText(name);
  await expect(second.getByRole("button", { name: "Use it here" })).toBeVisible();
  expect(problems).toEqual([]);
});

test("older messages load on demand, and joined rooms come back after a reload", async ({ page }) => {
  const problems = watchConsole(page);
  const room = `older-${uid()}`;
  // 60 messages from three script clients (20 each: within the rate limit's burst).
  const url = baseURL.replace("http", "ws") + "/ws";
  for (let c = 0; c < 3; c++) {
    const wire = await WireClient.connect(url);
    wire.send({ type: "hello", name: `poster${c}-${uid()}` });
    wire.send({ type: "join", room });
    for (let i = 0; i < 20; i++) wire.send({ type: "send", room, text: `m${c * 20 + i + 1}`, nonce: `${i}` });
    await wire.waitFor((f) => f.type === "message" && f.nonce === "19");
    wire.close();
  }
  await page.goto("/");
  await chooseName(page, `reader-${uid()}`);
  await joinRoom(page, room);
  const all = Array.from({ length: 60 }, (_, i) => `m${i + 1}`);
  await expect.poll(() => texts(page)).toEqual(all.slice(10));
  await page.getByRole("button", { name: "Load older messages" }).click();
  await expect.poll(() => texts(page)).toEqual(all);
  await expect(page.getByRole("button", { name: "Load older messages" })).toHaveCount(0);

  // A reload keeps the identity and the joined room, with its messages.
  await page.reload();
  await hydrated(page);
  await expect(page.getByTestId(`room-${room}`)).toHaveCount(1);
  await page.getByTestId(`room-${room}`).click();
  await expect(page.getByTestId("room-title")).toHaveText(room);
  await expect.poll(() => texts(page)).toEqual(all.slice(10));
  expect(problems).toEqual([]);
});
