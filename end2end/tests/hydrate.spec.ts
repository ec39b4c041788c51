// Server-rendered first, then hydrated: the first HTML is already a chat.
import { test, expect } from "@playwright/test";
import { chooseName, formPost, hydrated, hydrationDifferences, uid, watchConsole } from "./helpers";

test("the first HTML has the whole shell and general's recent messages; hydration is clean", async ({
  page,
  request,
}) => {
  const marker = `ssr-${uid()}`;
  expect((await formPost(request, `poster-${uid()}`, `${marker} <b>bold?</b>`)).status()).toBe(303);

  // The raw server response, before any script runs.
  const html = await (await request.get("/")).text();
  expect(html).toContain(`${marker} &lt;b&gt;bold?&lt;&#x2F;b&gt;`);
  for (const part of ['aria-label="Rooms"', 'class="composer"', 'id="members"', 'role="log"', "<title>Chat</title>"]) {
    expect(html).toContain(part);
  }

  const problems = watchConsole(page);
  const received: string[] = [];
  page.on("websocket", (ws) => ws.on("framereceived", (f) => received.push(String(f.payload))));
  const response = await page.goto("/");
  await expect(page.getByTestId("messages")).toContainText(marker);
  await hydrated(page);
  // Every text and attribute the browser renders is the server's.
  expect(await hydrationDifferences(page, await response!.text())).toEqual([]);
  await chooseName(page, `hy-${uid()}`);
  // The hydrated page spoke the protocol: welcome, then joined general.
  await expect.poll(() => received.map((f) => JSON.parse(f).type)).toContain("joined");
  await expect(page).toHaveTitle("Chat");
  // The SSR message is still there once, not duplicated by the join.
  await expect(page.getByText(marker)).toHaveCount(1);
  expect(problems).toEqual([]);
});

test("an unknown path is a server-rendered 404 that still hydrates", async ({ page }) => {
  const problems = watchConsole(page, [/404 \(Not Found\)/]);
  const response = await page.goto("/no/such/page");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await expect(page).toHaveTitle("Not found · Chat");
  expect(problems).toEqual([]);
});
