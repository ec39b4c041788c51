// Protocol 1.1 in the browser: the identity lives in an HttpOnly cookie and
// owns its name offline; a message whose connection drops mid-send is
// posted exactly once.
import { test, expect, type WebSocketRoute } from "@playwright/test";
import { chooseName, hydrated, joinRoom, send, texts, uid, watchConsole, WireClient } from "./helpers";

test("a connection lost mid-send, before the echo or before the server: each message posted exactly once, also after a reload", async ({ page }) => {
  const problems = watchConsole(page, [/WebSocket/]);
  const tag = uid();
  // The socket goes through the test, which cuts it at the chosen moment.
  let cut: "none" | "echo" | "send" = "none";
  await page.routeWebSocket(/\/ws$/, (ws: WebSocketRoute) => {
    const server = ws.connectToServer();
    const drop = () => {
      cut = "none";
      ws.close({ code: 1011, reason: "test: offline" });
      server.close();
    };
    ws.onMessage((raw) => {
      const frame = JSON.parse(String(raw));
      if (cut === "send" && frame.type === "send") return drop(); // never reaches the server
      server.send(raw);
    });
    server.onMessage((raw) => {
      const frame = JSON.parse(String(raw));
      if (cut === "echo" && frame.type === "message" && frame.text.startsWith("echo lost")) return drop();
      ws.send(raw);
    });
  });
  await page.goto("/");
  await chooseName(page, `once-${tag}`);

  // Stored, but the echo never arrives: after the reconnect it is shown once.
  cut = "echo";
  await send(page, `echo lost ${tag}`);
  await expect(page.getByRole("button", { name: "Retry now" })).toBeVisible();
  await expect.poll(async () => (await texts(page)).filter((t) => t.endsWith(tag))).toEqual([`echo lost ${tag}`]);
  // Never reached the server: sent again on the new connection, once.
  cut = "send";
  await send(page, `never left ${tag}`);
  await expect.poll(async () => (await texts(page)).filter((t) => t.endsWith(tag)), { timeout: 15_000 }).toEqual([
    `echo lost ${tag}`,
    `never left ${tag}`,
  ]);
  await expect(page.getByTestId("pending")).toHaveCount(0);

  // The server's page after a reload: each exactly once.
  await page.reload();
  await hydrated(page);
  expect((await texts(page)).filter((t) => t.endsWith(tag))).toEqual([`echo lost ${tag}`, `never left ${tag}`]);
  expect(problems).toEqual([]);
});

test("the identity cookie is HttpOnly, keeps the name across a reload, and no other browser can take the name", async ({ browser, baseURL }) => {
  const name = `owner-${uid()}`;
  const mine = await browser.newContext();
  const page = await mine.newPage();
  await page.goto("/");
  await chooseName(page, name);
  // Someone in a room with the owner, to hear when the owner is gone.
  const room = `owned-${uid()}`.toLowerCase();
  await joinRoom(page, room);
  const witness = await WireClient.connect(baseURL!.replace("http", "ws") + "/ws");
  witness.send({ type: "hello", name: `witness-${uid()}` });
  witness.send({ type: "join", room });
  await witness.waitFor((f) => f.type === "joined");
  const cookie = (await mine.cookies()).find((c) => c.name === "chat_id");
  expect(cookie?.httpOnly).toBe(true);
  expect(cookie?.sameSite).toBe("Lax");
  // Page scripts never see the token: not in document.cookie, not stored.
  expect(await page.evaluate(() => document.cookie)).not.toContain("chat_id");
  expect(await page.evaluate(() => localStorage.getItem("chat.identity"))).toBe(JSON.stringify({ name }));
  await page.close();
  await witness.waitFor((f) => f.type === "presence" && f.user === name && f.state === "left");
  witness.close();

  // Offline now (the server said so): another browser still cannot use
  // the name, or a look-alike.
  const other = await (await browser.newContext()).newPage();
  await other.goto("/");
  await hydrated(other);
  for (const attempt of [name, name.toUpperCase()]) {
    await other.getByLabel("Your name").fill(attempt);
    await other.getByLabel("Your name").press("Enter");
    await expect(other.getByTestId("name-error")).toContainText("is in use");
  }

  // The owner's browser comes back: the same name, proven by the cookie.
  const back = await mine.newPage();
  await back.goto("/");
  await expect(back.getByTestId("me")).toContainText(name);
});
