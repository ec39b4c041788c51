// Protocol 1.1 in the browser: a room of 150 shows its count and pages its
// member list as the panel scrolls.
import { test, expect } from "@playwright/test";
import { chooseName, joinRoom, uid, watchConsole, WireClient } from "./helpers";

test("a room of 150: the count shows, and scrolling the member panel loads every member once", async ({
  page,
  baseURL,
}, testInfo) => {
  const problems = watchConsole(page);
  const room = `big-${uid()}`;
  const url = baseURL!.replace("http", "ws") + "/ws";
  const tag = uid();
  const script: WireClient[] = [];
  for (let i = 0; i < 149; i++) {
    const wire = await WireClient.connect(url);
    wire.send({ type: "hello", name: `m${String(i).padStart(3, "0")}-${tag}` });
    wire.send({ type: "join", room });
    script.push(wire);
  }
  await script[148].waitFor((f) => f.type === "joined");

  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto("/");
  await chooseName(page, `Ada-${tag}`);
  await joinRoom(page, room);
  const panel = page.locator("#members");
  await expect(panel.getByRole("heading")).toHaveText("Members (150)");
  await expect(page.locator(".members-toggle")).toHaveText("150 online");
  // The first page (100 names), and a way to the rest.
  const names = page.getByTestId("members").locator(".member-name");
  await expect(names).toHaveCount(100);
  await expect(page.getByRole("button", { name: "More members (50 not shown)" })).toBeVisible();
  const file = testInfo.outputPath("members-150.png");
  await page.screenshot({ path: file });
  await testInfo.attach("members-150", { path: file, contentType: "image/png" });

  // Scrolling the panel to its end loads the next page.
  await panel.evaluate((el) => el.scrollTo(0, el.scrollHeight));
  await expect(names).toHaveCount(150);
  await expect(page.getByRole("button", { name: /More members/ })).toHaveCount(0);
  const shown = await names.allInnerTexts();
  expect(new Set(shown).size).toBe(150);
  const key = (n: string) => [n.toLowerCase(), n] as const;
  const sorted = [...shown].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0;
  });
  expect(shown).toEqual(sorted);

  // Above the threshold, leaves arrive as a count (within about a second).
  for (const wire of script.slice(0, 10)) wire.close();
  await expect(panel.getByRole("heading")).toHaveText("Members (140)", { timeout: 5_000 });
  for (const wire of script.slice(10)) wire.close();
  expect(problems).toEqual([]);
});
