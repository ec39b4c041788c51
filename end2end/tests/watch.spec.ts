// Protocol 1.1 "watching without a name" in the browser: before choosing a
// name the room in view is live; choosing one goes on the same page with
// each message once.
import { test, expect } from "@playwright/test";
import { chooseName, hydrated, texts, uid, watchConsole, WireClient } from "./helpers";

test("before a name the room in view is live; after choosing one, each message shows once", async ({
  page,
  baseURL,
}) => {
  const problems = watchConsole(page);
  await page.goto("/");
  await hydrated(page);
  const poster = await WireClient.connect(baseURL!.replace("http", "ws") + "/ws");
  const who = `poster-${uid()}`;
  poster.send({ type: "hello", name: who });
  poster.send({ type: "join", room: "general" });
  const first = `live before a name ${uid()}`;
  poster.send({ type: "send", room: "general", text: first, nonce: "w1" });
  await expect.poll(() => texts(page)).toContain(first);

  await chooseName(page, `vis-${uid()}`);
  const second = `after the name ${uid()}`;
  poster.send({ type: "send", room: "general", text: second, nonce: "w2" });
  await expect.poll(() => texts(page)).toContain(second);
  const shown = await texts(page);
  expect(shown.filter((t) => t === first)).toHaveLength(1);
  expect(shown.filter((t) => t === second)).toHaveLength(1);
  poster.close();
  expect(problems).toEqual([]);
});
