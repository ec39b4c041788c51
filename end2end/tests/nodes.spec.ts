// Two chat servers on one PostgreSQL database are one chat: two browsers on
// two different nodes talk live, and one of them moves to the other node
// when its node dies, keeping its name and missing nothing.
import { test, expect, type Page } from "@playwright/test";
import { execFileSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { chooseName, ids, send, startServer, stopServer, texts, uid, watchConsole } from "./helpers";

const base = Number(process.env.E2E_PORT ?? 3100);
const [portA, portB, portProxy, portPg] = [base + 2, base + 3, base + 4, base + 5];

/** Debian's PostgreSQL programs (not on PATH), run as `postgres` when we are root. */
function pg(program: string, args: string[]): void {
  const versions = fs.readdirSync("/usr/lib/postgresql").sort();
  const bin = path.join("/usr/lib/postgresql", versions[versions.length - 1], "bin", program);
  const root = process.getuid?.() === 0;
  execFileSync(root ? "runuser" : bin, root ? ["-u", "postgres", "--", bin, ...args] : args, {
    stdio: ["ignore", "ignore", "pipe"],
  });
}

/** A throw-away PostgreSQL cluster in `dir`; returns its URL. */
function startPg(dir: string): string {
  if (process.getuid?.() === 0) execFileSync("chown", ["-R", "postgres:postgres", dir]);
  pg("initdb", ["-A", "trust", "-U", "chat", "--no-sync", "-D", `${dir}/data`]);
  const options = `-p ${portPg} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  pg("pg_ctl", ["start", "-w", "-D", `${dir}/data`, "-l", `${dir}/log`, "-o", options]);
  return `postgres://chat@127.0.0.1:${portPg}/postgres`;
}

/** A node on `port` over `url`, with its own data directory. */
const startNode = (port: number, url: string, dir: string) =>
  startServer(port, { CHAT_DATA_DIR: dir, CHAT_DATABASE_URL: url, CHAT_NODE_LEASE_SECS: "2" });

/**
 * The one address of the pair, as a load balancer with fail-over gives it:
 * each connection goes to the first node that accepts it.
 */
function failoverProxy(port: number, backends: number[]): net.Server {
  const server = net.createServer((client) => {
    client.pause();
    const tryNext = (i: number) => {
      if (i >= backends.length) return client.destroy();
      const upstream = net.connect(backends[i], "127.0.0.1");
      upstream.once("error", () => tryNext(i + 1));
      upstream.once("connect", () => {
        upstream.removeAllListeners("error");
        upstream.on("error", () => client.destroy());
        client.on("error", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
        client.on("close", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    tryNext(0);
  });
  server.listen(port, "127.0.0.1");
  return server;
}

// While its node is down, the browser logs its failed reconnects.
const OUTAGE = [/WebSocket connection to .* failed/, /ERR_CONNECTION_(REFUSED|RESET|CLOSED)/];

test("two browsers on two nodes chat live; one moves to the other node when its node dies", async ({
  browser,
}) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chat-e2e-nodes-"));
  fs.chmodSync(dir, 0o755);
  const pgDir = path.join(dir, "pg");
  fs.mkdirSync(pgDir);
  const url = startPg(pgDir);
  let a: ChildProcess | undefined;
  let b: ChildProcess | undefined;
  const proxy = failoverProxy(portProxy, [portA, portB]);
  try {
    a = await startNode(portA, url, path.join(dir, "a"));
    b = await startNode(portB, url, path.join(dir, "b"));
    const pages: Page[] = [];
    const problems: string[][] = [];
    // The first browser comes through the shared address (node A); the
    // second straight to node B.
    for (const [origin, name] of [
      [`http://127.0.0.1:${portProxy}`, `ana-${uid()}`],
      [`http://127.0.0.1:${portB}`, `bo-${uid()}`],
    ]) {
      const page = await (await browser.newContext()).newPage();
      problems.push(watchConsole(page, OUTAGE));
      await page.goto(`${origin}/`);
      await chooseName(page, name);
      pages.push(page);
    }
    const [pa, pb] = pages;
    await send(pa, "from node a");
    await expect.poll(() => texts(pb)).toEqual(["from node a"]);
    await send(pb, "from node b");
    for (const p of pages) await expect.poll(() => texts(p)).toEqual(["from node a", "from node b"]);
    // The other node's member shows in each list.
    await expect(pb.getByTestId("members")).toContainText("ana-");
    await expect(pa.getByTestId("members")).toContainText("bo-");

    // Node A dies (SIGKILL): the first browser reconnects through the shared
    // address, now to node B, with its identity; meanwhile B's browser posts.
    a.kill("SIGKILL");
    await expect(pa.getByTestId("banner")).toBeVisible();
    await send(pb, "while moving");
    await expect(pa.getByTestId("banner")).toHaveCount(0, { timeout: 40_000 });
    const expected = ["from node a", "from node b", "while moving"];
    await expect.poll(() => texts(pa)).toEqual(expected);
    await send(pa, "from node b now");
    for (const p of pages) {
      await expect.poll(() => texts(p)).toEqual([...expected, "from node b now"]);
      expect(await ids(p)).toEqual([1, 2, 3, 4]);
    }
    await expect(pb.getByTestId("members")).toContainText("ana-");
    expect(problems.flat()).toEqual([]);
  } finally {
    proxy.close();
    for (const node of [a, b]) if (node) await stopServer(node);
    try {
      pg("pg_ctl", ["stop", "-w", "-m", "fast", "-D", `${pgDir}/data`]);
    } catch {
      /* already stopped */
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
