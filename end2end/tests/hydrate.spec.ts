import { test, expect } from "@playwright/test";

test("the page renders on the server, hydrates, and gets the hub's welcome over gloo-net", async ({ page }) => {
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  const received: string[] = [];
  page.on("websocket", (ws) => {
    if (ws.url().endsWith("/ws")) ws.on("framereceived", (f) => received.push(String(f.payload)));
  });

  const response = await page.goto("/");
  expect(response?.status()).toBe(200);
  // Server-rendered before any script runs.
  expect(await response?.text()).toContain("Connecting…");

  await expect(page.getByTestId("status")).toHaveText(/^Connected as guest-\d+$/);
  const welcome = received.map((f) => JSON.parse(f)).find((f) => f.type === "welcome");
  expect(welcome?.rooms).toContain("general");
  await expect(page).toHaveTitle("Chat");
  expect(errors).toEqual([]);
});
