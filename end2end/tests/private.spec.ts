// Private rooms and direct messages (protocol 1.2 section 2) in real
// browsers: one account makes a private room and invites a second, whose
// sidebar shows the invitation live; they chat; a third account sees
// nothing of it in its sidebar, in search or at /r/<room>. A direct
// message is started from the member list and appears, under the other
// person's name, in both sidebars.
import { test, expect, type Page, type Browser } from "@playwright/test";
import * as path from "node:path";
import { hydrated, send, texts, uid, watchConsole } from "./helpers";

const PASSWORD = "vexed quartz jumps fog";
const AXE = path.join(__dirname, "..", "node_modules", "axe-core", "axe.min.js");

/** A new browser signed up as `name`, hydrated and welcomed. */
async function account(browser: Browser, name: string): Promise<Page> {
  // CSP bypassed only so that the test can inject axe.
  const page = await (await browser.newContext({ bypassCSP: true })).newPage();
  await page.goto("/signup");
  await page.getByLabel("Name").fill(name);
  await page.getByLabel(/^Password/).fill(PASSWORD);
  await page.getByRole("button", { name: "Make the account" }).click();
  await expect(page.getByTestId("signed-in")).toContainText(name);
  await hydrated(page);
  await expect(page.getByTestId("me")).toContainText(name);
  return page;
}

test("a private room for two, invisible to a third; a direct message from the member list", async ({ browser }) => {
  const id = uid();
  const [ann, bo, cy] = [`ann${id}`, `bo${id}`, `cy${id}`];
  const annPage = await account(browser, ann);
  const problems = watchConsole(annPage);
  const boPage = await account(browser, bo);
  const cyPage = await account(browser, cy);
  const room = `plans-${id}`.toLowerCase();

  // Ann makes the private room and invites Bo from the dialog.
  await annPage.getByTestId("new-room").click();
  await annPage.getByTestId("new-room-name").fill(room);
  await expect(annPage.getByTestId("new-room-private")).toBeChecked();
  await annPage.getByTestId("new-room-invite").fill(bo);
  await annPage.getByTestId("new-room-create").click();
  await expect(annPage.getByTestId("room-title")).toHaveText(room);
  await expect(annPage.getByTestId(`room-${room}`).getByRole("img", { name: "private" })).toBeVisible();

  // Bo's sidebar shows the invitation live; he joins and they chat.
  await boPage.getByTestId(`invited-${room}`).click();
  await expect(boPage.getByTestId("room-title")).toHaveText(room);
  const secret = `the secret plan ${id}`;
  await send(annPage, secret);
  await expect.poll(() => texts(boPage)).toContain(secret);
  const reply = `agreed ${id}`;
  await send(boPage, reply);
  await expect.poll(() => texts(annPage)).toContain(reply);
  await expect(annPage.locator(".members .role-badge")).toHaveText(["owner"]);

  // Cy: nothing in the sidebar, nothing in search, a 404 at /r/<room>.
  await expect(cyPage.getByTestId(`room-${room}`)).toHaveCount(0);
  await expect(cyPage.getByTestId(`other-${room}`)).toHaveCount(0);
  await cyPage.getByTestId("search").fill(`secret plan ${id}`);
  await cyPage.getByTestId("search").press("Enter");
  await expect(cyPage.getByTestId("results-status")).toContainText("Nothing found");
  await expect(cyPage.getByTestId("result")).toHaveCount(0);
  const page404 = await cyPage.goto(`/r/${room}`);
  expect(page404?.status()).toBe(404);
  expect(await cyPage.content()).not.toContain(secret);

  // A direct message from the member list: under the other's name in both.
  await annPage.getByTestId("room-general").click();
  await annPage.getByTestId(`dm-${bo}`).click();
  await expect(annPage.getByTestId("room-title")).toHaveText(bo);
  await expect(annPage.getByTestId("dms")).toContainText(bo);
  const hello = `just us ${id}`;
  await send(annPage, hello);
  await expect(boPage.getByTestId("dms")).toContainText(ann);
  await boPage.getByTestId("dms").getByText(ann).click();
  await expect(boPage.getByTestId("room-title")).toHaveText(ann);
  await expect.poll(() => texts(boPage)).toContain(hello);

  // axe finds nothing with the dialog open.
  await annPage.getByTestId("new-room").click();
  await annPage.addScriptTag({ path: AXE });
  const violations = await annPage.evaluate(async () => {
    const result = await (window as any).axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    });
    return result.violations.map((v: any) => `${v.impact} ${v.id}: ${v.nodes.map((n: any) => n.target.join(" ")).join(", ")}`);
  });
  expect(violations).toEqual([]);
  expect(problems).toEqual([]);
});
