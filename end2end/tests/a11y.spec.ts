// axe-core (WCAG 2.1 A/AA and best practices), injected into the page: zero
// violations on desktop light, desktop dark and a 360 px screen, with a
// name chosen and messages, a mention and search results on screen.
import { test, expect, type Page } from "@playwright/test";
import * as path from "node:path";
import { chooseName, joinRoom, send, texts, uid } from "./helpers";

const AXE = path.join(__dirname, "..", "node_modules", "axe-core", "axe.min.js");

/** The violations axe finds on `page`, as readable lines. */
async function violations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    const result = await (window as any).axe.run(document, {
      runOnly: {
        type: "tag",
        values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
      },
    });
    return result.violations.map(
      (v: any) => `${v.impact} ${v.id}: ${v.nodes.map((n: any) => n.target.join(" ")).join(", ")}`,
    );
  });
  return found;
}

for (const [label, viewport, scheme] of [
  ["desktop light", { width: 1280, height: 800 }, "light"],
  ["desktop dark", { width: 1280, height: 800 }, "dark"],
  ["360 px", { width: 360, height: 740 }, "light"],
] as const) {
  test(`axe finds no violation: ${label}`, async ({ browser }) => {
    // The CSP (nonces only) would refuse the injected axe script.
    const context = await browser.newContext({ viewport, colorScheme: scheme, bypassCSP: true });
    const page = await context.newPage();
    await page.goto("/");
    // Before a name: the name form and the messages.
    expect(await violations(page)).toEqual([]);
    const name = `axe-${uid()}`;
    await chooseName(page, name);
    // A room of its own: the other specs count `general`'s messages.
    await joinRoom(page, `axe-${uid()}`.toLowerCase());
    // A link and a mention in the messages, and search results open.
    const word = `axeword${uid()}`;
    const text = `checked by ${word} https://example.org @${name}`;
    await send(page, text);
    await expect.poll(() => texts(page)).toContain(text);
    await expect(page.locator(".msg .mention")).toHaveCount(1);
    await page.getByTestId("search").fill(word);
    await page.getByTestId("search").press("Enter");
    await expect(page.getByTestId("result")).toHaveCount(1);
    expect(await violations(page)).toEqual([]);
    await context.close();
  });
}
