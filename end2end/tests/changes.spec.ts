// Messages that change and moderation (protocol 1.2 sections 3 and 4) in
// real browsers, driven by the keyboard: edit with Up, react, reply,
// delete; a moderator bans a flooding browser and deletes its messages,
// which disappear from a third; the topic and the audit log are text.
import { test, expect, type Page } from "@playwright/test";
import { guest, send, texts, uid } from "./helpers";

/** The message row whose text is `text`. */
function row(page: Page, text: string) {
  return page.locator('[data-testid="message"]', { hasText: text }).first();
}

/** Presses a (hidden until focused) control of a row with the keyboard. */
async function press(page: Page, text: string, testid: string) {
  const button = row(page, text).getByTestId(testid);
  await button.focus();
  await button.press("Enter");
}

test("edit with Up, react, reply and delete, all by keyboard, seen live by another browser", async ({ browser }) => {
  const id = uid();
  const room = `chg-${id}`.toLowerCase();
  const a = await guest(browser, `ann${id}`, room);
  const b = await guest(browser, `bo${id}`, room);

  await send(a.page, `helo ${id}`);
  await expect.poll(() => texts(b.page)).toContain(`helo ${id}`);
  // Up in the empty composer edits one's last message; Enter saves.
  await a.page.getByTestId("composer").press("ArrowUp");
  const box = a.page.getByTestId("edit-text");
  await expect(box).toHaveValue(`helo ${id}`);
  await box.fill(`hello <b>${id}</b>`);
  await box.press("Enter");
  await expect.poll(() => texts(b.page)).toContain(`hello <b>${id}</b>`);
  await expect(row(b.page, `hello <b>${id}`).getByTestId("edited")).toHaveText("(edited)");

  // React from the picker; the other browser sees the count.
  await press(a.page, `hello <b>${id}`, "react");
  const pick = row(a.page, `hello <b>${id}`).getByRole("button", { name: "React with 👍" });
  await pick.focus();
  await pick.press("Enter");
  await expect(row(b.page, `hello <b>${id}`).getByTestId("reaction")).toHaveText("👍 1");
  await expect(row(a.page, `hello <b>${id}`).getByTestId("reaction")).toHaveAttribute("aria-pressed", "true");

  // Reply: the composer says what it answers; the reply quotes it.
  await press(b.page, `hello <b>${id}`, "reply");
  await expect(b.page.getByTestId("replying")).toContainText(`hello <b>${id}</b>`);
  await send(b.page, `yes ${id}`);
  await expect(row(a.page, `yes ${id}`).getByTestId("quote")).toContainText(`hello <b>${id}</b>`);

  // Delete, after the confirmation.
  await press(a.page, `hello <b>${id}`, "delete");
  const confirm = a.page.getByTestId("confirm-delete");
  await confirm.focus();
  await confirm.press("Enter");
  await expect.poll(() => texts(b.page)).toEqual(["message deleted", `yes ${id}`]);

  for (const g of [a, b]) {
    expect(await g.page.evaluate(() => (window as any).__canary)).toBe("intact");
    expect(g.dialogs).toEqual([]);
    expect(g.problems).toEqual([]);
  }
});

test("a moderator bans a flooding browser and its messages disappear from a third; topic and audit log are text", async ({
  browser,
}) => {
  const id = uid();
  const room = `mod-${id}`.toLowerCase();
  // The first to join a new room owns it.
  const mod = await guest(browser, `mo${id}`, room);
  const flood = await guest(browser, `fl${id}`, room);
  const reader = await guest(browser, `re${id}`, room);
  const spam = [1, 2, 3, 4, 5].map((n) => `buy now ${n} ${id}`);
  for (const text of spam) await send(flood.page, text);
  await expect.poll(() => texts(reader.page)).toEqual(spam);

  // Ban, deleting the messages, from the menu of one of them.
  await press(mod.page, spam[0], "ban");
  await mod.page.getByTestId("confirm-ban-purge").click();
  await expect.poll(() => texts(reader.page)).toEqual(spam.map(() => "message deleted"));
  await expect(mod.page.getByTestId("notice-banner")).toContainText(`5 messages of fl${id} deleted`);
  // The flooder is out of the room, and told why.
  await expect(flood.page.getByTestId("room-title")).not.toHaveText(room);
  await expect(flood.page.getByTestId("notice-banner")).toContainText(`you were banned from #${room}`);

  // A topic that looks like markup is shown as typed.
  const topic = `<img src=x onerror="window.__canary='pwned'"> rules ${id}`;
  await mod.page.getByTestId("room-settings").click();
  await mod.page.getByTestId("topic-input").fill(topic);
  await mod.page.getByTestId("save-settings").click();
  await expect(reader.page.getByTestId("topic")).toHaveText(topic);
  await expect(reader.page.locator(".room-head img")).toHaveCount(0);

  // The owner's audit log lists the ban, the purge and the setting.
  await mod.page.getByTestId("audit").click();
  const entries = mod.page.getByTestId("audit-entry");
  await expect(entries).toHaveCount(3);
  await expect(entries.nth(0)).toContainText("room_settings");
  await expect(entries.nth(1)).toContainText(`purge fl${id}`);
  await expect(entries.nth(2)).toContainText(`ban fl${id}`);

  for (const g of [mod, flood, reader]) {
    expect(await g.page.evaluate(() => (window as any).__canary)).toBe("intact");
    expect(g.dialogs).toEqual([]);
  }
  expect([...mod.problems, ...reader.problems]).toEqual([]);
});
