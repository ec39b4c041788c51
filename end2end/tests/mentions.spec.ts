// Mentions: `@name` of a member is marked, a message that mentions you is
// highlighted and marks its room's badge, and with the tab hidden an opt-in
// browser notification says so (the Notification API is stubbed here).
import { test, expect, type Page } from "@playwright/test";
import { chooseName, joinRoom, send, texts, uid, watchConsole } from "./helpers";

/** Records notifications and lets the test hide the tab. */
function stubNotifications() {
  const w = window as any;
  w.__notes = [];
  w.__hidden = false;
  class FakeNotification {
    static permission = "default";
    static requestPermission() {
      FakeNotification.permission = "granted";
      return Promise.resolve("granted");
    }
    onclick: null | (() => void) = null;
    constructor(title: string, options?: { body?: string }) {
      w.__notes.push({ title, body: options?.body ?? "" });
      w.__last = this;
    }
  }
  w.Notification = FakeNotification;
  Object.defineProperty(document, "hidden", { get: () => w.__hidden });
  Object.defineProperty(document, "visibilityState", { get: () => (w.__hidden ? "hidden" : "visible") });
}

const notes = (page: Page) => page.evaluate(() => (window as any).__notes as { title: string; body: string }[]);

test("a mention is marked, marks its room, and notifies a hidden tab that asked for it", async ({ browser }) => {
  const room = `mention-${uid()}`.toLowerCase();
  const [ada, bob] = [`ada-${uid()}`, `bob-${uid()}`];
  const adaContext = await browser.newContext();
  await adaContext.addInitScript(stubNotifications);
  const a = await adaContext.newPage();
  const b = await (await browser.newContext()).newPage();
  const problems = [...watchConsole(a), ...watchConsole(b)];
  for (const [page, name] of [[a, ada], [b, bob]] as const) {
    await page.goto("/");
    await chooseName(page, name);
    await joinRoom(page, room);
  }
  await expect(a.getByTestId("members")).toContainText(bob);

  // Opt in: the permission is asked for only now.
  const alerts = a.getByTestId("alerts");
  await expect(alerts).toHaveText("Notify me of mentions");
  await alerts.click();
  await expect(alerts).toHaveText("Mention notifications on");
  await expect(alerts).toHaveAttribute("aria-pressed", "true");

  // In another room: the badge counts and says "mentioning you"; a visible
  // tab gets no notification.
  await a.getByTestId("room-general").click();
  await send(b, "nothing for anyone");
  await send(b, `hi @${ada.toUpperCase()}, look`);
  const badge = a.getByTestId(`room-${room}`).getByTestId("unread");
  await expect(badge).toHaveText("2");
  await expect(badge).toHaveClass(/mention/);
  await expect(badge).toHaveAttribute("aria-label", "2 unread, mentioning you");
  await expect(a).toHaveTitle(`(2) Chat`);
  expect(await notes(a)).toEqual([]);

  // Hidden: one notification per mention, none for other messages.
  await a.evaluate(() => ((window as any).__hidden = true));
  await send(b, `@${ada} are you there?`);
  await send(b, "still nothing for anyone");
  await expect.poll(() => notes(a)).toEqual([{ title: `${bob} in #${room}`, body: `@${ada} are you there?` }]);
  await expect(a).toHaveTitle(`(4) Chat`);

  // Its click brings the room into view.
  await a.evaluate(() => (window as any).__last.onclick());
  await expect(a.getByTestId("room-title")).toHaveText(room);
  await expect(a.getByTestId(`room-${room}`).getByTestId("unread")).toHaveCount(0);
  await a.evaluate(() => ((window as any).__hidden = false));

  // The messages that mention ada are highlighted for her, each mention marked.
  await expect(a.locator(".msg.to-me")).toHaveCount(2);
  await expect(a.locator(".msg.to-me .mention")).toHaveText([`@${ada.toUpperCase()}`, `@${ada}`]);
  // Bob sees ada's name marked too, but nothing is "to him"; not a member's
  // name is not marked.
  const thanks = `thanks @${bob} (and @nobody-${uid()})`;
  await send(a, thanks);
  await expect.poll(() => texts(b)).toContain(thanks);
  await expect(b.locator(".msg.to-me")).toHaveCount(1);
  await expect(b.locator(".msg.to-me .mention")).toHaveText([`@${bob}`]);
  await expect(b.locator(".msg .mention")).toHaveCount(3);

  // Turned off: no more notifications.
  await alerts.click();
  await expect(alerts).toHaveText("Notify me of mentions");
  await a.evaluate(() => ((window as any).__hidden = true));
  await send(b, `@${ada} once more`);
  await expect.poll(() => texts(a)).toContain(`@${ada} once more`);
  expect(await notes(a)).toHaveLength(1);
  expect(problems).toEqual([]);
});
