// Nothing a user types becomes markup or runs: not in the live list, not in
// the server-rendered page, not in the data serialized for hydration.
import { test, expect } from "@playwright/test";
import { chooseName, formPost, guarded, hydrated, hydrationDifferences, joinRoom, send, texts, uid, watchConsole } from "./helpers";

const PAYLOADS = [
  `<img src=x onerror="window.__canary='pwned';alert(1)">`,
  `<script>window.__canary='pwned';alert(2)</script>`,
  `</script><script>window.__canary='pwned';alert(3)</script>`,
  `"><svg onload="window.__canary='pwned';alert(4)">`,
  `<a href="javascript:alert(5)">click me</a>`,
  // (`7*7` twice would be emphasis now: the formatting subset, tested below.)
  `{{7+7}} \${7+7} &lt;b&gt;entity&lt;/b&gt; <!-- comment -->`,
];

test("XSS payloads in the composer, the name and the room box display literally and never run", async ({
  browser,
  request,
}) => {
  const room = `xss-${uid()}`;
  const writer = await (await browser.newContext()).newPage();
  const reader = await (await browser.newContext()).newPage();
  const w = await guarded(writer);
  const r = await guarded(reader);
  const problems = [...[writer, reader].map((p) => watchConsole(p))];
  await writer.goto("/");
  await reader.goto("/");

  // A name that looks like markup is just a name.
  const evilName = `<img src=x onerror=alert(9)>`;
  await chooseName(writer, evilName);
  await chooseName(reader, `reader-${uid()}`);
  await joinRoom(writer, room);
  await joinRoom(reader, room);

  for (const text of PAYLOADS) await send(writer, text);
  for (const page of [writer, reader]) {
    await expect.poll(() => texts(page)).toEqual(PAYLOADS);
    await expect(page.getByTestId("members")).toContainText(evilName);
    // No element came from the payloads.
    await expect(page.locator(".messages img, .messages script, .messages svg, .messages a")).toHaveCount(0);
  }
  await expect(reader.locator('[data-testid="author"]').first()).toHaveText(evilName);

  // The room box refuses markup inline; nothing is joined or sent.
  await reader.getByLabel("Join or create a room").fill(`<script>alert(6)</script>`);
  await expect(reader.getByTestId("room-error")).toContainText("Room names use a–z");
  await reader.getByLabel("Join or create a room").press("Enter");
  await expect(reader.getByTestId("room-title")).toHaveText(room);
  await expect(reader.locator(".room-list script")).toHaveCount(0);

  // Through the server-rendered page too: payloads posted to general with the
  // plain form, then a fresh page renders and hydrates them.
  for (const text of PAYLOADS.slice(0, 4)) {
    expect((await formPost(request, `form-${uid()}`, text)).status()).toBe(303);
  }
  const fresh = await (await browser.newContext()).newPage();
  const f = await guarded(fresh);
  problems.push(watchConsole(fresh));
  const freshHtml = await (await fresh.goto("/"))!.text();
  await hydrated(fresh);
  expect(await hydrationDifferences(fresh, freshHtml)).toEqual([]);
  const shown = await texts(fresh);
  for (const text of PAYLOADS.slice(0, 4)) expect(shown).toContain(text);

  // A refused form post comes back with its text in the textarea: still text.
  const refused = await (await browser.newContext()).newPage();
  const rf = await guarded(refused);
  // The refused post's own 422 is the one console error expected here.
  problems.push(watchConsole(refused, [/status of 422/]));
  await refused.goto("/");
  await hydrated(refused);
  const payload = `</textarea><script>window.__canary='pwned';alert(7)</script>`;
  const [refusedResponse] = await Promise.all([
    refused.waitForResponse((r) => r.request().method() === "POST" && r.request().isNavigationRequest()),
    refused.waitForURL("/"),
    refused.evaluate((text) => {
      const form = document.createElement("form");
      form.method = "post";
      form.action = "/";
      for (const [name, value] of [["name", ""], ["text", text]]) {
        const input = document.createElement("input");
        input.name = name;
        input.value = value;
        form.appendChild(input);
      }
      document.body.appendChild(form);
      form.submit();
    }, payload),
  ]);
  await expect(refused.getByTestId("name-error")).toContainText("1 to 32 characters");
  await expect(refused.getByTestId("composer")).toHaveValue(payload);
  await hydrated(refused);
  expect(await hydrationDifferences(refused, await refusedResponse.text())).toEqual([]);

  for (const page of [writer, reader, fresh, refused]) {
    expect(await page.evaluate(() => (window as any).__canary)).toBe("intact");
  }
  expect([...w.dialogs, ...r.dialogs, ...f.dialogs, ...rf.dialogs]).toEqual([]);
  expect(problems.flat()).toEqual([]);
});

test("formatting: emphasis, code and http(s) links render; javascript: links and raw HTML stay text", async ({
  browser,
}) => {
  const room = `fmt-${uid()}`;
  const writer = await (await browser.newContext()).newPage();
  const w = await guarded(writer);
  const problems = watchConsole(writer);
  await writer.goto("/");
  await chooseName(writer, `fmt-${uid()}`);
  await joinRoom(writer, room);
  const text =
    "**bold** _soft_ `a<b` see https://example.org/x?y=1&z=2 " +
    "[x](javascript:alert(1)) <javascript:alert(2)> <a href=\"javascript:alert(3)\">a</a>";
  await send(writer, text);
  const last = writer.locator(".messages .msg").last();
  await expect(last.locator("strong")).toHaveText("bold");
  await expect(last.locator("em")).toHaveText("soft");
  await expect(last.locator("code")).toHaveText("a<b");
  // One link: the https URL, whole, with its rel; nothing else became one.
  const links = last.locator("a");
  await expect(links).toHaveCount(1);
  await expect(links).toHaveAttribute("href", "https://example.org/x?y=1&z=2");
  await expect(links).toHaveAttribute("rel", "noopener noreferrer nofollow ugc");
  await expect(last).toContainText("[x](javascript:alert(1)) <javascript:alert(2)> <a href=\"javascript:alert(3)\">a</a>");
  // Another browser joining the room gets the same markup from history.
  const fresh = await (await browser.newContext()).newPage();
  const f = await guarded(fresh);
  problems.push(...watchConsole(fresh));
  await fresh.goto("/");
  await chooseName(fresh, `fmt2-${uid()}`);
  await joinRoom(fresh, room);
  const again = fresh.locator(".messages .msg").last();
  await expect(again.locator("a")).toHaveCount(1);
  await expect(again.locator("strong")).toHaveText("bold");
  expect(await writer.evaluate(() => (window as any).__canary)).toBe("intact");
  expect([...w.dialogs, ...f.dialogs]).toEqual([]);
  expect(problems).toEqual([]);
});
