// Search: a word finds its message in any room, and the result opens the
// room at that message, with the pages before it loaded and its
// neighbours around it.
import { test, expect } from "@playwright/test";
import { chooseName, uid, watchConsole, WireClient } from "./helpers";

test("search finds a message and opens it in context", async ({ page, baseURL }) => {
  const problems = watchConsole(page);
  const room = `search-${uid()}`.toLowerCase();
  const needle = `needle${uid()}`;
  // Posters over the wire (several: each connection may send a burst of 20).
  const url = baseURL!.replace("http", "ws") + "/ws";
  const posters: WireClient[] = [];
  for (let p = 0; p < 7; p++) {
    const c = await WireClient.connect(url);
    c.send({ type: "hello", name: `poster${p}-${uid()}` });
    c.send({ type: "join", room });
    await c.waitFor((f) => f.type === "joined");
    posters.push(c);
  }
  const [first] = posters;
  first.send({ type: "send", room, text: "just before the needle", nonce: "b" });
  await first.waitFor((f) => f.type === "message" && f.nonce === "b");
  first.send({ type: "send", room, text: `the ${needle} in the haystack`, nonce: "n" });
  await first.waitFor((f) => f.type === "message" && f.nonce === "n");
  // More after it than a `join` replays: opening it needs older pages.
  for (let i = 0; i < 110; i++) posters[1 + (i % 6)].send({ type: "send", room, text: `hay ${i}` });
  await expect
    .poll(() => first.frames.filter((f) => f.type === "message").length, { timeout: 20_000 })
    .toBe(112);

  await page.goto("/");
  await chooseName(page, `seeker-${uid()}`);
  await page.getByTestId("search").fill(needle);
  await page.getByTestId("search").press("Enter");
  const results = page.getByTestId("result");
  await expect(results).toHaveCount(1);
  await expect(page.getByTestId("results-status")).toHaveText(`1 result for “${needle}”`);
  await expect(results.first()).toContainText(`#${room}`);
  await expect(results.first()).toContainText(`the ${needle} in the haystack`);

  await results.first().getByRole("link").first().click();
  await expect(page.getByTestId("room-title")).toHaveText(room);
  await expect(page).toHaveURL(new RegExp(`/r/${room}$`));
  const target = page.locator(".msg.target");
  await expect(target).toContainText(needle);
  await expect(target).toBeInViewport();
  const list = page.getByTestId("messages");
  await expect(list).toContainText("just before the needle");
  await expect(list).toContainText("hay 0");
  await expect(list).toContainText("hay 109");
  for (const c of posters) c.close();
  expect(problems).toEqual([]);
});
