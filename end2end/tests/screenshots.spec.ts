// Screenshots of a conversation on a desktop (light and dark) and on a 360 px
// phone, saved as test artifacts (test-results/…/desktop.png,
// desktop-dark.png, mobile.png).
import { test, expect, type Browser, type BrowserContext, type Page } from "@playwright/test";
import { chooseName, joinRoom, send, uid, watchConsole } from "./helpers";

type Look = { width: number; height: number; scheme: "light" | "dark" };

// Names belong to their identity (protocol 1.1): each look's new browser
// context takes the identity cookie of the first, so Ada is always Ada.
const identities = new Map<string, Awaited<ReturnType<BrowserContext["cookies"]>>>();

async function nameAs(context: BrowserContext, page: Page, name: string) {
  const saved = identities.get(name);
  if (saved) await context.addCookies(saved);
  await page.goto("/");
  await chooseName(page, name);
  identities.set(name, await context.cookies());
}

async function conversation(browser: Browser, look: Look) {
  const room = `design-${uid().slice(-4)}`;
  const friendContext = await browser.newContext();
  const friend = await friendContext.newPage();
  const friendProblems = watchConsole(friend);
  await nameAs(friendContext, friend, "Grace");
  const context = await browser.newContext({
    viewport: { width: look.width, height: look.height },
    colorScheme: look.scheme,
  });
  const page = await context.newPage();
  const problems = watchConsole(page);
  await nameAs(context, page, "Ada");
  // The friend's page is watched too: its problems are reported with Ada's.
  page.on("close", () => problems.push(...friendProblems));
  await joinRoom(page, room);
  await joinRoom(friend, room);
  await send(friend, "Morning @Ada! Did the release go out?");
  await send(page, "It did: notes at https://example.org/notes, and `make test` is green.");
  await send(page, "Hydration is **clean**.");
  await send(friend, "Nice. <b>Markup</b> stays text, too.");
  await friend.getByTestId("composer").pressSequentially("typing");
  await expect(page.getByTestId("typing")).toHaveText("Grace is typing…");
  // A mention of Ada, highlighted for her; search results open above.
  await expect(page.locator(".msg.to-me .mention")).toHaveText("@Ada");
  await page.getByTestId("search").fill("release");
  await page.getByTestId("search").press("Enter");
  await expect(page.getByTestId("result").first()).toBeVisible();
  const close = async () => {
    await context.close();
    await friendContext.close();
  };
  return { page, problems, close };
}

test("desktop (light, dark) and 360 px mobile screenshots", async ({ browser }, testInfo) => {
  for (const [name, look] of [
    ["desktop", { width: 1280, height: 800, scheme: "light" }],
    ["desktop-dark", { width: 1280, height: 800, scheme: "dark" }],
    ["mobile", { width: 360, height: 740, scheme: "light" }],
  ] as const) {
    const { page, problems, close } = await conversation(browser, look);
    // Nothing overflows sideways, even at 360 px.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    const file = testInfo.outputPath(`${name}.png`);
    await page.screenshot({ path: file });
    await testInfo.attach(name, { path: file, contentType: "image/png" });
    expect(problems).toEqual([]);
    await close();
  }
});
