// A room has an address: `/r/<room>` is rendered by the server with that
// room's messages, hydrates cleanly, and stays the room in view.
import { test, expect } from "@playwright/test";
import {
  chooseName,
  hydrated,
  hydrationDifferences,
  joinRoom,
  texts,
  uid,
  watchConsole,
  WireClient,
} from "./helpers";

test("a deep link renders its room on the server, hydrates cleanly and stays in view", async ({
  page,
  baseURL,
}) => {
  const problems = watchConsole(page);
  const room = `link-${uid()}`.toLowerCase();
  const poster = await WireClient.connect(baseURL!.replace("http", "ws") + "/ws");
  poster.send({ type: "hello", name: `poster-${uid()}` });
  poster.send({ type: "join", room });
  poster.send({ type: "send", room, text: "rendered by the server", nonce: "l1" });
  await poster.waitFor((f) => f.type === "message" && f.nonce === "l1");

  const response = await page.goto(`/r/${room}`);
  expect(response!.status()).toBe(200);
  const html = await response!.text();
  expect(html).toContain("rendered by the server");
  await hydrated(page);
  expect(await hydrationDifferences(page, html)).toEqual([]);
  await expect(page.getByTestId("room-title")).toHaveText(room);
  await chooseName(page, `reader-${uid()}`);
  await expect(page.getByTestId("room-title")).toHaveText(room);
  poster.send({ type: "send", room, text: "live in the linked room", nonce: "l2" });
  await expect.poll(() => texts(page)).toEqual(["rendered by the server", "live in the linked room"]);

  const missing = await page.goto(`/r/nope-${uid()}`.toLowerCase());
  expect(missing!.status()).toBe(404);
  poster.close();
  expect(problems.filter((p) => !/status of 404/.test(p))).toEqual([]);
});

test("switching rooms changes the address and the title; back and forward switch rooms", async ({ page }) => {
  const problems = watchConsole(page);
  await page.goto("/");
  await chooseName(page, `nav-${uid()}`);
  const room = `nav-${uid()}`.toLowerCase();
  await joinRoom(page, room);
  await expect(page).toHaveURL(new RegExp(`/r/${room}$`));
  await expect(page).toHaveTitle(`${room} · Chat`);
  await page.goBack();
  await expect(page.getByTestId("room-title")).toHaveText("general");
  await expect(page).toHaveURL(/:\d+\/$/);
  await expect(page).toHaveTitle("Chat");
  await page.goForward();
  await expect(page.getByTestId("room-title")).toHaveText(room);
  await expect(page).toHaveURL(new RegExp(`/r/${room}$`));
  // A reload of the address shows the same room, rendered by the server.
  await page.reload();
  await expect(page.getByTestId("room-title")).toHaveText(room);
  await expect(page).toHaveTitle(`${room} · Chat`);
  expect(problems).toEqual([]);
});
