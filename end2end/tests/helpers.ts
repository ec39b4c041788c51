// Shared helpers for the browser suite: console watching, naming, sending,
// reading the message list, and a protocol-level WebSocket client.
import { expect, type Browser, type Page, type APIRequestContext } from "@playwright/test";
import WebSocket from "ws";
import { spawn, type ChildProcess } from "node:child_process";

/** A short unique suffix, so tests sharing one server never collide. */
export function uid(): string {
  return Date.now().toString(36) + Math.floor(Math.random() * 1e6).toString(36);
}

/**
 * Collects console errors, hydration warnings and uncaught exceptions.
 * `allow` lists messages that are expected (the browser's own network
 * errors while a server is deliberately down).
 */
export function watchConsole(page: Page, allow: RegExp[] = []): string[] {
  const problems: string[] = [];
  page.on("console", (m) => {
    const text = m.text();
    const bad = m.type() === "error" || /hydrat/i.test(text);
    if (bad && !allow.some((re) => re.test(text))) problems.push(`${m.type()}: ${text}`);
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e}`));
  return problems;
}

/**
 * Guards a page against injected script: every dialog it opens is
 * recorded (and dismissed), and `window.__canary` starts "intact" (a
 * payload that runs changes it).
 */
export async function guarded(page: Page): Promise<{ dialogs: string[] }> {
  const dialogs: string[] = [];
  page.on("dialog", async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  await page.addInitScript(() => {
    (window as any).__canary = "intact";
  });
  return { dialogs };
}

/** Waits until the page's WASM has hydrated it. */
export async function hydrated(page: Page): Promise<void> {
  await expect(page.locator(".app.hydrated")).toHaveCount(1);
}

/**
 * Where the page the browser renders afresh from its hydration data differs
 * from the server's HTML (`ui::fresh`). Hydration adopts the server's DOM
 * without comparing texts or attributes, so in a release build such a
 * difference would go unnoticed and stay on screen; this finds it. Comments
 * (hydration markers) and texts of only white space are ignored; each
 * element is compared by its tag and attributes, each text by its content. Call it once the page is hydrated.
 */
export async function hydrationDifferences(page: Page, serverHtml: string): Promise<string[]> {
  return page.evaluate(async (serverHtml) => {
    // The bundle's name carries a content hash: take it from the page.
    const url = document.querySelector<HTMLLinkElement>('link[rel="modulepreload"]')!.href;
    const wasm: any = await import(url);
    if (typeof wasm.render_fresh !== "function") {
      return ["no render_fresh in the bundle: build it with --lib-features hydrate,hydration-check (make test-e2e)"];
    }
    const fresh: string | undefined = wasm.render_fresh();
    if (fresh === undefined) return ["the page has no hydration data to render from"];
    const flatten = (html: string): string[] => {
      const app = new DOMParser().parseFromString(html, "text/html").querySelector(".app");
      if (!app) return ["(no .app element)"];
      const out: string[] = [];
      const walk = (node: Node, depth: number) => {
        for (const child of Array.from(node.childNodes)) {
          if (child.nodeType === Node.ELEMENT_NODE) {
            const e = child as Element;
            const attrs = Array.from(e.attributes).map((a) => `${a.name}="${a.value}"`).sort();
            out.push(`${" ".repeat(depth)}<${e.tagName.toLowerCase()} ${attrs.join(" ")}>`);
            walk(e, depth + 1);
          } else if (child.nodeType === Node.TEXT_NODE) {
            // Adjacent texts (split by markers) are one text on screen.
            const last = out.length - 1;
            if (last >= 0 && out[last].startsWith(`${" ".repeat(depth)}"`)) {
              out[last] = out[last].slice(0, -1) + child.textContent + '"';
            } else {
              out.push(`${" ".repeat(depth)}"${child.textContent}"`);
            }
          }
        }
      };
      walk(app, 0);
      // The server writes an empty text as " " (so there is a node to
      // hydrate); the browser leaves it empty. Neither shows anything.
      return out.filter((line) => line.trim().replace(/^"\s*"$/, "") !== "");
    };
    const server = flatten(serverHtml);
    const browser = flatten(fresh);
    const diffs: string[] = [];
    for (let i = 0; i < Math.max(server.length, browser.length) && diffs.length < 5; i++) {
      if (server[i] !== browser[i]) diffs.push(`line ${i}: server ${server[i]} / browser ${browser[i]}`);
    }
    return diffs;
  }, serverHtml);
}

/** Chooses a name in the composer's name field and waits for the server's welcome. */
export async function chooseName(page: Page, name: string): Promise<void> {
  await hydrated(page);
  await page.getByLabel("Your name").fill(name);
  await page.getByLabel("Your name").press("Enter");
  await expect(page.getByTestId("me")).toContainText(name);
}

/** Types a message in the composer and sends it with Enter. */
export async function send(page: Page, text: string): Promise<void> {
  const box = page.getByTestId("composer");
  await box.fill(text);
  await box.press("Enter");
}

/** Joins (or creates) a room with the sidebar's room box. */
/**
 * Every frame the page sends and receives on its WebSockets from now on
 * (parsed), so a test can wait for what the page and the server said to
 * each other instead of sleeping.
 */
export function wsFrames(page: Page): { sent: any[]; received: any[] } {
  const frames = { sent: [] as any[], received: [] as any[] };
  const parse = (payload: string | Buffer) => {
    try {
      return JSON.parse(typeof payload === "string" ? payload : payload.toString());
    } catch {
      return null;
    }
  };
  page.on("websocket", (ws) => {
    ws.on("framesent", (f) => frames.sent.push(parse(f.payload)));
    ws.on("framereceived", (f) => frames.received.push(parse(f.payload)));
  });
  return frames;
}

export async function joinRoom(page: Page, room: string): Promise<void> {
  await page.getByLabel("Join or create a room").fill(room);
  await page.getByLabel("Join or create a room").press("Enter");
  await expect(page.getByTestId("room-title")).toHaveText(room);
}

/** The texts of the confirmed messages shown, in order. */
export async function texts(page: Page): Promise<string[]> {
  return page.locator('[data-testid="message"] [data-testid="text"]').allInnerTexts();
}

/** The message ids shown, in order. */
export async function ids(page: Page): Promise<number[]> {
  const all = await page.locator('[data-testid="message"]').evaluateAll((els) =>
    els.map((e) => Number(e.getAttribute("data-id"))),
  );
  return all;
}

/** Posts with the page's plain form, as a browser without JavaScript would. */
/** The page's plain form, posted as a browser posts its own page's form. */
export async function formPost(request: APIRequestContext, name: string, text: string) {
  return request.post("/", {
    form: { name, text, room: "general" },
    headers: { "Sec-Fetch-Site": "same-origin" },
    maxRedirects: 0,
  });
}

/** A protocol v1 client over a raw WebSocket (a script or another program). */
export class WireClient {
  private constructor(
    private ws: WebSocket,
    public frames: any[],
  ) {}

  static async connect(url: string): Promise<WireClient> {
    const ws = new WebSocket(url);
    const frames: any[] = [];
    ws.on("message", (data) => frames.push(JSON.parse(String(data))));
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return new WireClient(ws, frames);
  }

  send(frame: object): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Waits for the first received frame that matches. */
  async waitFor(match: (f: any) => boolean, timeoutMs = 10_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.frames.find(match);
      if (found) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no matching frame; got ${JSON.stringify(this.frames)}`);
  }

  close(): void {
    this.ws.close();
  }
}

/**
 * Starts the server binary (`E2E_SERVER`, as the Playwright config) on `port` (with `env` added: its store, its
 * database…) and waits until it serves its page.
 */
export async function startServer(port: number, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.env.E2E_SERVER ?? "../target/release/chat", [], {
    env: {
      ...process.env,
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: "../target/site",
      LEPTOS_OUTPUT_NAME: "chat",
      CHAT_IDENTITY_BURST: "100000",
      // Several servers side by side: each its own operations port.
      CHAT_OPS_ADDR: "127.0.0.1:0",
      CHAT_PAGE_RATE_PER_SEC: "100000",
      CHAT_PAGE_BURST: "100000",
      RUST_LOG: "warn",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/`)).ok) return child;
    } catch {
      /* not yet listening */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the server did not start");
}

/** SIGTERM, and waits for the exit (nothing when it has already ended). */
export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

/** A fresh guest browser named `name` in `room`, with XSS guards and its console watched. */
export async function guest(browser: Browser, name: string, room: string) {
  const page = await (await browser.newContext()).newPage();
  const { dialogs } = await guarded(page);
  const problems = watchConsole(page);
  await page.goto("/");
  await hydrated(page);
  await chooseName(page, name);
  await joinRoom(page, room);
  return { page, dialogs, problems };
}
