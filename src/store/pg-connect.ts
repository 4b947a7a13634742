// Reaching Postgres at start-up: the URL without its password for logs, and connection attempts until a deadline.
import type { SQL } from "bun";
import type { Logger } from "../lib/logger.ts";
import { StoreError } from "../runs/store.ts";

export interface PgTarget {
  /** The URL without its password (for the start-up log and /health). */
  location: string;
  /** host:port/database, for messages. */
  target: string;
  database: string | null;
  /** Only to scrub it from messages that might echo it. */
  secrets: string[];
}

const SECRET_PARAMS = ["password", "pass", "sslpassword"];

export function describeUrl(url: string): PgTarget {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Not a URL we can take apart: drop everything between "//user:" and "@", the only place a password can be.
    const location = url.replace(/\/\/([^/:@]*):[^@/]*@/, "//$1@").replace(/([?&](?:password|pass|sslpassword)=)[^&]*/gi, "$1");
    return { location, target: location, database: null, secrets: [] };
  }
  const secrets = [parsed.password, decodeURIComponent(parsed.password)].filter((s) => s.length > 0);
  for (const name of SECRET_PARAMS) {
    const value = parsed.searchParams.get(name);
    if (value) secrets.push(value);
    parsed.searchParams.delete(name);
  }
  parsed.password = "";
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, "")) || null;
  const target = `${parsed.hostname || "localhost"}:${parsed.port || "5432"}/${database ?? decodeURIComponent(parsed.username || "postgres")}`;
  return { location: parsed.toString(), target, database, secrets };
}

export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) out = out.split(s).join("***");
  return out;
}

function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = "code" in err && typeof err.code === "string" ? `${err.code}: ` : "";
    return `${code}${err.message}`;
  }
  return String(err);
}

/**
 * Tries `SELECT 1` until it answers or the deadline passes (a database that starts after us, as in a
 * Kubernetes rollout, is waited for); each attempt is cut at the deadline too, so a host that swallows
 * packets cannot hold start-up past it. The error names where, never the password.
 */
export async function connectWithin(sql: SQL, t: PgTarget, timeoutMs: number, logger?: Logger): Promise<void> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let attempts = 0;
  let delay = 100;
  for (;;) {
    attempts++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), Math.max(0, deadline - Date.now()));
    });
    try {
      await Promise.race([sql`SELECT 1`, late]);
      if (attempts > 1) logger?.info("connected to Postgres", { target: t.target, attempts, waited_ms: Date.now() - started });
      return;
    } catch (err) {
      const cause = scrub(describeError(err), t.secrets);
      const left = deadline - Date.now();
      // Too little time left for another attempt to mean anything: report this one's cause.
      if (left < 50) {
        throw new StoreError(`connect to Postgres at ${t.target} within ${timeoutMs} ms (${attempts} attempts)`, new Error(cause));
      }
      logger?.warn("Postgres not reachable yet, retrying", { target: t.target, attempt: attempts, error: cause, retry_in_ms: Math.min(delay, left) });
      await Bun.sleep(Math.min(delay, left));
      delay = Math.min(delay * 2, 2000);
    } finally {
      clearTimeout(timer);
    }
  }
}
