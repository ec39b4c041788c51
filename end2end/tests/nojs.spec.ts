// Without JavaScript the page is still a chat: history, and a plain form
// that posts through the same hub, validation and escaping.
import { test, expect } from "@playwright/test";
import { chooseName, formPost, joinRoom, send, texts, uid, watchConsole } from "./helpers";

test("a browser without JavaScript reads history and posts with the form", async ({ browser, request }) => {
  const marker = `history-${uid()}`;
  expect((await formPost(request, `someone-${uid()}`, marker)).status()).toBe(303);

  // A live (JavaScript) reader, to see the form's post arrive over the WebSocket.
  const live = await (await browser.newContext()).newPage();
  const liveProblems = watchConsole(live);
  await live.goto("/");
  await chooseName(live, `live-${uid()}`);

  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto("/");
  await expect(page.getByTestId("messages")).toContainText(marker);
  // JavaScript-only controls stay out of the way.
  await expect(page.getByLabel("Join or create a room")).toBeHidden();

  const name = `nojs-${uid()}`;
  const text = `from a plain form <i>${uid()}</i>`;
  await page.getByLabel("Your name").fill(name);
  await page.getByTestId("composer").fill(text);
  await page.getByTestId("send").click();
  await page.waitForURL(/\/#end$/);
  const last = page.locator('[data-testid="message"]').last();
  await expect(last.getByTestId("text")).toHaveText(text);
  await expect(last.getByTestId("author")).toHaveText(name);
  await expect(live.getByTestId("messages")).toContainText(text);

  // The name is remembered (a cookie) for the next post.
  await page.goto("/");
  await expect(page.getByLabel("Your name")).toHaveValue(name);

  // A refused post shows why, next to the form, and keeps the text.
  await page.getByLabel("Your name").fill("");
  await page.getByTestId("composer").fill("kept text");
  await page.getByLabel("Your name").evaluate((e) => e.removeAttribute("required"));
  const [response] = await Promise.all([page.waitForNavigation(), page.getByTestId("send").click()]);
  expect(response?.status()).toBe(422);
  await expect(page.getByTestId("name-error")).toContainText("1 to 32 characters");
  await expect(page.getByTestId("composer")).toHaveValue("kept text");

  // Same rules as the WebSocket: too long a text is refused.
  const tooLong = await formPost(request, name, "y".repeat(2001));
  expect(tooLong.status()).toBe(422);
  expect(await tooLong.text()).toContain("a message is 1 to 2000 characters");
  // A name held by a live WebSocket user is refused.
  const liveName = (await live.getByTestId("me").locator("strong").innerText()).trim();
  expect((await formPost(request, liveName, "impostor")).status()).toBe(422);
  // A form from another site is refused.
  const foreign = await request.post("/", {
    form: { name, text: "csrf", room: "general" },
    headers: { Origin: "http://evil.example" },
    maxRedirects: 0,
  });
  expect(foreign.status()).toBe(403);
  expect(await texts(live)).not.toContain("csrf");
  expect(liveProblems).toEqual([]);
});

test("without JavaScript the rooms are links and the form posts into the room in view", async ({ browser }) => {
  // A room with a message, made by a WebSocket client.
  const room = `plain-${uid()}`.toLowerCase();
  const first = `first in ${room}`;
  const page = await (await browser.newContext({ javaScriptEnabled: false })).newPage();
  const maker = await (await browser.newContext()).newPage();
  await maker.goto("/");
  await chooseName(maker, `maker-${uid()}`);
  await joinRoom(maker, room);
  await send(maker, first);
  await expect(maker.getByTestId("messages")).toContainText(first);

  // Its link in the sidebar opens its page, rendered by the server.
  await page.goto("/");
  await page.locator(`a.room[href="/r/${room}"]`).click();
  await page.waitForURL(new RegExp(`/r/${room}$`));
  await expect(page.getByTestId("room-title")).toHaveText(room);
  await expect(page.getByTestId("messages")).toContainText(first);
  await expect(page).toHaveTitle(`${room} · Chat`);

  // The form posts into that room and comes back to it.
  const text = `plain post ${uid()}`;
  await page.getByLabel("Your name").fill(`plain-${uid()}`);
  await page.getByTestId("composer").fill(text);
  await page.getByTestId("send").click();
  await page.waitForURL(new RegExp(`/r/${room}#end$`));
  await expect(page.getByTestId("messages").locator('[data-testid="text"]').last()).toHaveText(text);
  await expect(maker.getByTestId("messages")).toContainText(text);

  // And general's link goes back to general, where the post is not.
  await page.locator('a.room[href="/"]').click();
  await page.waitForURL(/\/$/);
  await expect(page.getByTestId("room-title")).toHaveText("general");
  await expect(page.getByTestId("messages")).not.toContainText(text);
});
