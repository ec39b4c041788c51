// Files and images in messages (protocol 1.2 section 5) in real browsers:
// attached with the button, pasted and dropped, each with its progress
// and a way to cancel; the image shown in a second browser with its place
// kept before it loads; crafted files shown as downloads, nothing of them
// running.
import { test, expect, type Page } from "@playwright/test";
import { deflateSync } from "node:zlib";
import { guest, hydrated, send, uid } from "./helpers";

/** The CRC-32 PNG chunks carry. */
function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A `w`×`h` PNG of one colour. */
function png(w: number, h: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([head, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(w * 3, 0x5a)]);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** Gives `page` `name` (bytes `b64`, type `type`) by `how`: paste or drop. */
async function hand(page: Page, how: "paste" | "drop", name: string, b64: string, type: string) {
  await page.evaluate(
    ({ how, name, b64, type }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const data = new DataTransfer();
      data.items.add(new File([bytes], name, { type }));
      if (how === "paste") {
        const box = document.querySelector('[data-testid="composer"]')!;
        box.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
      } else {
        const pane = document.querySelector("main.pane")!;
        pane.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
        pane.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
      }
    },
    { how, name, b64, type },
  );
}

/** The message row whose text is `text`. */
function row(page: Page, text: string) {
  return page.locator('[data-testid="message"]', { hasText: text }).first();
}

test("files attached by button, paste and drop, with progress, reach another browser with their place kept", async ({ browser }) => {
  const id = uid();
  const room = `files-${id}`.toLowerCase();
  const a = await guest(browser, `ann${id}`, room);
  const b = await guest(browser, `bo${id}`, room);

  // Held at the network until the progress bar has been seen.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  await a.page.route("**/api/v1/uploads", async (route) => {
    await held;
    await route.continue();
  });
  await a.page.getByTestId("attach-input").setInputFiles({
    name: "wide.png",
    mimeType: "image/png",
    buffer: png(400, 300),
  });
  const uploads = a.page.getByTestId("upload");
  await expect(uploads.getByTestId("upload-progress")).toHaveCount(1);
  // Sending now waits: the file is not uploaded yet.
  await send(a.page, `too soon ${id}`);
  await expect(a.page.getByTestId("text-error")).toContainText("wait until the files are uploaded");
  release();
  await expect(uploads.getByTestId("upload-done")).toHaveCount(1);

  await hand(a.page, "paste", "pasted.png", png(20, 10).toString("base64"), "image/png");
  await hand(a.page, "drop", "notes.txt", Buffer.from("dropped notes").toString("base64"), "text/plain");
  await expect(uploads.getByTestId("upload-done")).toHaveCount(3);

  // Cancel one on its way: it goes, and is not posted.
  let releaseOther!: () => void;
  const heldOther = new Promise<void>((r) => (releaseOther = r));
  await a.page.unroute("**/api/v1/uploads");
  await a.page.route("**/api/v1/uploads", async (route) => {
    await heldOther;
    await route.abort();
  });
  await hand(a.page, "drop", "never.txt", Buffer.from("no").toString("base64"), "text/plain");
  await expect(uploads).toHaveCount(4);
  await uploads.filter({ hasText: "never.txt" }).getByTestId("upload-cancel").click();
  await expect(uploads).toHaveCount(3);
  releaseOther();

  await a.page.getByTestId("composer").fill(`files ${id}`);
  await a.page.getByTestId("composer").press("Enter");
  await expect(uploads).toHaveCount(0);

  const got = row(b.page, `files ${id}`);
  const images = got.locator('[data-testid="image"] img');
  await expect(images).toHaveCount(2);
  // The place is kept from the markup: 400×300 fits 320×240.
  await expect(images.first()).toHaveAttribute("width", "320");
  await expect(images.first()).toHaveAttribute("height", "240");
  await expect(images.first()).toHaveAttribute("alt", "wide.png");
  await expect(images.nth(1)).toHaveAttribute("width", "20");
  await expect
    .poll(() => images.first().evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth))
    .toBeGreaterThan(0);
  const file = got.getByTestId("file");
  await expect(file).toHaveCount(1);
  await expect(file).toContainText("notes.txt");
  await expect(file).toHaveAttribute("download", "notes.txt");
  // A refresh shows them from the server's HTML too.
  await b.page.reload();
  await hydrated(b.page);
  await expect(row(b.page, `files ${id}`).locator('[data-testid="image"] img')).toHaveCount(2);

  expect(b.problems).toEqual([]);
});

test("a crafted SVG and HTML named .png are downloads, and nothing of them runs", async ({ browser }) => {
  const id = uid();
  const room = `craft-${id}`.toLowerCase();
  const a = await guest(browser, `ann${id}`, room);
  const b = await guest(browser, `bo${id}`, room);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" onload="window.__canary='pwned';alert(1)"><script>window.__canary='pwned';alert(2)</script></svg>`;
  const html = `<html><body><script>window.__canary='pwned';alert(3)</script></body></html>`;
  await a.page.getByTestId("attach-input").setInputFiles([
    { name: `"><img src=x onerror=alert(4)>.svg`, mimeType: "image/svg+xml", buffer: Buffer.from(svg) },
    { name: "cat.png", mimeType: "image/png", buffer: Buffer.from(html) },
  ]);
  await expect(a.page.getByTestId("upload-done")).toHaveCount(2);
  await send(a.page, `crafted ${id}`);

  const got = row(b.page, `crafted ${id}`);
  await expect(got.getByTestId("file")).toHaveCount(2);
  await expect(got.locator("img")).toHaveCount(0);
  await expect(got.getByTestId("file").first()).toContainText(`"><img src=x onerror=alert(4)>.svg`);
  for (const link of await got.getByTestId("file").all()) {
    const url = await link.getAttribute("href");
    const answer = await b.page.request.get(url!);
    expect(answer.headers()["content-type"]).toBe("application/octet-stream");
    expect(answer.headers()["content-disposition"]).toMatch(/^attachment; /);
    expect(answer.headers()["content-security-policy"]).toBe("default-src 'none'; sandbox");
    expect(answer.headers()["x-content-type-options"]).toBe("nosniff");
  }
  // Opened as an image, the SVG runs nothing either (it is not an image here).
  await b.page.evaluate(async (url) => {
    const img = document.createElement("img");
    img.src = url;
    document.body.append(img);
    await new Promise((r) => { img.onload = r; img.onerror = r; });
  }, await got.getByTestId("file").first().getAttribute("href"));
  for (const p of [a, b]) {
    expect(p.dialogs).toEqual([]);
    expect(await p.page.evaluate(() => (window as any).__canary)).toBe("intact");
  }
});
