// Where you left off: the server keeps each identity's last read message
// per room; on return "New since you left" sits above the first unread
// message and the view opens there.
import { test, expect } from "@playwright/test";
import { chooseName, joinRoom, texts, uid, watchConsole, WireClient, wsFrames } from "./helpers";

test("after a reload the divider sits above the first message not yet read", async ({ page, baseURL }) => {
  const problems = watchConsole(page);
  const frames = wsFrames(page);
  // Waits until the page has told the server it read `room` up to `id`.
  const told = (id: number) =>
    expect.poll(() => frames.sent.some((f) => f?.type === "read" && f.room === room && f.id === id)).toBe(true);
  const room = `unread-${uid()}`.toLowerCase();
  const poster = await WireClient.connect(baseURL!.replace("http", "ws") + "/ws");
  poster.send({ type: "hello", name: `poster-${uid()}` });
  poster.send({ type: "join", room });
  await poster.waitFor((f) => f.type === "joined");
  const post = async (text: string) => {
    poster.send({ type: "send", room, text, nonce: text });
    await poster.waitFor((f) => f.type === "message" && f.nonce === text);
  };

  await page.goto("/");
  await chooseName(page, `reader-${uid()}`);
  await joinRoom(page, room);
  for (const t of ["read 1", "read 2", "read 3"]) await post(t);
  await expect.poll(() => texts(page)).toEqual(["read 1", "read 2", "read 3"]);
  // The page tells the server what it showed (once a second).
  await told(3);
  await page.goto("about:blank");
  for (let i = 1; i <= 15; i++) await post(`new ${i}`);

  await page.goto(`/r/${room}`);
  const divider = page.getByTestId("divider");
  await expect(divider).toHaveText("New since you left");
  await expect(divider).toBeInViewport();
  // Right above the first unread message, and only once.
  await expect(divider).toHaveCount(1);
  const next = page.locator('[data-testid="divider"] + li [data-testid="text"]');
  await expect(next).toHaveText("new 1");
  expect(await divider.evaluate((d) => d.previousElementSibling?.textContent ?? "")).toContain("read 3");

  // Read now: after the next reload there is nothing new, so no divider.
  await told(18);
  frames.received.length = 0;
  await page.reload();
  // The server-rendered page already shows "new 15" before the WebSocket's
  // `joined`, which is what would bring a divider: wait for that `joined`
  // (it says the page read up to 18, the newest), then for a message after
  // it, so the page has applied it.
  await expect
    .poll(() => frames.received.find((f) => f?.type === "joined" && f.room === room)?.last_read)
    .toBe(18);
  await post("after the reload");
  await expect.poll(() => texts(page)).toContain("after the reload");
  await expect(page.getByTestId("divider")).toHaveCount(0);
  poster.close();
  expect(problems).toEqual([]);
});
