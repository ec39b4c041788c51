// Accounts (protocol 1.2 section 1) in real browsers: a guest keeps its
// name by setting a password, a second device (another browser context)
// signs in and is the same person, signing out everywhere closes the
// other device's socket (4004) and its page says so; the pages work
// without JavaScript, and axe finds nothing on them.
import { test, expect, type Page } from "@playwright/test";
import * as path from "node:path";
import { chooseName, hydrated, joinRoom, send, texts, uid, watchConsole } from "./helpers";

const PASSWORD = "vexed quartz jumps fog";
const AXE = path.join(__dirname, "..", "node_modules", "axe-core", "axe.min.js");

async function signIn(page: Page, name: string): Promise<void> {
  await page.goto("/login");
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("signed-in")).toContainText(name);
}

test("one person on two devices: same identity, and signed out everywhere at once", async ({ browser }) => {
  const laptop = await (await browser.newContext()).newPage();
  const problems = watchConsole(laptop, [/WebSocket/]);
  await laptop.goto("/");
  const name = `acct${uid()}`;
  await chooseName(laptop, name);
  const room = `acct-${uid()}`.toLowerCase();
  await joinRoom(laptop, room);
  const before = `before the account ${uid()}`;
  await send(laptop, before);
  await expect.poll(() => texts(laptop)).toContain(before);
  // The guest is offered to keep its name.
  await laptop.getByRole("link", { name: "Keep this name: set a password" }).click();
  await expect(laptop.getByText(`Keep the name ${name}`)).toBeVisible();
  await laptop.getByLabel(/^Password/).fill(PASSWORD);
  await laptop.getByRole("button", { name: "Make the account" }).click();
  await expect(laptop.getByTestId("signed-in")).toContainText(name);
  await hydrated(laptop);
  await expect(laptop.getByTestId("me")).toContainText(name);

  // The second device: signed in, it is the same person without choosing a name.
  const phone = await (await browser.newContext()).newPage();
  await signIn(phone, name);
  await hydrated(phone);
  await expect(phone.getByTestId("me")).toContainText(name);
  await joinRoom(phone, room);
  await expect.poll(() => texts(phone)).toContain(before);
  await expect(phone.locator(".members .you")).toHaveCount(1);
  await joinRoom(laptop, room);
  const now = `from the laptop ${uid()}`;
  await send(laptop, now);
  await expect.poll(() => texts(phone)).toContain(now);
  const mine = phone.locator('[data-testid="message"]', { hasText: now });
  await expect(mine.getByTestId("author")).toHaveText(name);

  // Signed out everywhere from the phone: the laptop's socket closes (4004).
  await phone.goto("/account");
  await expect(phone.getByTestId("account-name")).toContainText(name);
  await phone.getByRole("button", { name: "Sign out everywhere" }).click();
  await expect(phone.getByTestId("sign-in")).toBeVisible();
  await expect(laptop.getByTestId("banner")).toContainText("You were signed out");
  expect(problems).toEqual([]);
});

test.describe("without JavaScript", () => {
  test.use({ javaScriptEnabled: false });

  test("sign up, post with the plain form as the account, sign out, sign in", async ({ page }) => {
    const name = `nojs${uid()}`;
    await page.goto("/signup");
    await page.getByLabel("Name").fill(name);
    await page.getByLabel(/^Password/).fill(PASSWORD);
    await page.getByRole("button", { name: "Make the account" }).click();
    await expect(page.getByTestId("signed-in")).toContainText(name);
    const text = `plain post ${uid()}`;
    // The form's name is the account's already.
    await expect(page.getByLabel("Your name")).toHaveValue(name);
    await page.getByTestId("composer").fill(text);
    await page.getByTestId("send").click();
    await page.waitForURL(/\/#end$/);
    const last = page.locator('[data-testid="message"]').last();
    await expect(last.getByTestId("text")).toHaveText(text);
    await expect(last.getByTestId("author")).toHaveText(name);
    await page.goto("/account");
    await page.getByRole("button", { name: "Sign out", exact: true }).click();
    await expect(page.getByTestId("sign-in")).toBeVisible();
    await page.goto("/login");
    await page.getByLabel("Name").fill(name);
    await page.getByLabel("Password").fill("not the password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByTestId("account-error")).toContainText("do not match");
    await signIn(page, name);
  });
});

test("axe finds no violation on the sign-up, sign-in and account pages", async ({ browser }) => {
  const context = await browser.newContext({ bypassCSP: true });
  const page = await context.newPage();
  const check = async () => {
    await page.addScriptTag({ path: AXE });
    const found = await page.evaluate(async () => {
      const result = await (window as any).axe.run(document, {
        runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
      });
      return result.violations.map((v: any) => `${v.impact} ${v.id}: ${v.nodes.map((n: any) => n.target.join(" ")).join(", ")}`);
    });
    expect(found).toEqual([]);
  };
  const name = `axeacct${uid()}`;
  await page.goto("/signup");
  await check();
  await page.getByLabel("Name").fill(name);
  // Long enough for the browser's own check, too easy for the server's.
  await page.getByLabel(/^Password/).fill("password1");
  await page.getByRole("button", { name: "Make the account" }).click();
  await expect(page.getByTestId("account-error")).toBeVisible();
  await check();
  await page.goto("/login");
  await check();
  await page.goto("/signup");
  await page.getByLabel("Name").fill(name);
  await page.getByLabel(/^Password/).fill(PASSWORD);
  await page.getByRole("button", { name: "Make the account" }).click();
  await expect(page.getByTestId("signed-in")).toContainText(name);
  await page.goto("/account");
  await page.getByLabel("Token name").fill("bot");
  await page.getByRole("button", { name: "Make a token" }).click();
  await expect(page.getByTestId("new-token")).toBeVisible();
  await check();
  await context.close();
});
