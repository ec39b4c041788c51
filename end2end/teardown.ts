// Removes the run's temporary data directory (see playwright.config.ts).
import * as fs from "node:fs";

export default function teardown(): void {
  const dir = process.env.E2E_DATA_DIR;
  if (dir && dir.includes("chat-e2e-")) fs.rmSync(dir, { recursive: true, force: true });
}
