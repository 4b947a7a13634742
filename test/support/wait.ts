// Waits for a condition with a deadline instead of sleeping a fixed time.
import { readdirSync } from "node:fs";

export async function waitFor<T>(
  probe: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? "condition"}`);
    await Bun.sleep(opts.intervalMs ?? 20);
  }
}

/**
 * What is left in a run's WORK_DIR once the workspaces of ended runs are deleted: they are moved aside
 * when a run answers and deleted in the background, so an entry may linger a moment. The server's
 * spare workspaces and repository spares (made ahead, deleted at shutdown) are not a run's leftovers and are not counted.
 * Returns the entries still there after the deadline (none, when everything was cleaned up).
 */
export async function settledDir(dir: string, timeoutMs = 10_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const entries = readdirSync(dir).filter((e) => !e.startsWith("opencode-spare-") && !e.startsWith("opencode-repospare-"));
    if (entries.length === 0 || Date.now() > deadline) return entries;
    await Bun.sleep(10);
  }
}
