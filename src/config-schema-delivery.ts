// The variables of delivery beyond the push — pull requests (forges, links) and webhooks — parsed like the rest of the environment.
import { z } from "zod";
import { DEFAULTS } from "./config-env-docs.ts";
import { optionalText, positive, withDefault } from "./config-fields.ts";
import { parseForges, withDefaults } from "./git/forge/sites.ts";
import { parseDuration } from "./lib/duration.ts";
import { WEBHOOK_EVENTS, type WebhookEvent } from "./webhooks/model.ts";
import { parseWebhookPrefixes } from "./webhooks/url-policy.ts";

/** What is wrong with an http(s) URL the operator gives (PUBLIC_URL, WEBHOOK_URL), without quoting it. */
function plainUrlProblem(v: string, queryAllowed: boolean): string | null {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    return "is not a URL (expected https://host/path)";
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "must start with https:// or http://";
  if (url.username || url.password) return "must not contain credentials";
  if (url.hash || (!queryAllowed && url.search)) return queryAllowed ? "must not have a fragment" : "must not have a query or fragment";
  return null;
}

/** An optional http(s) URL (null when unset), checked by plainUrlProblem — whose messages never quote it. */
function operatorUrl(queryAllowed: boolean, tidy: (v: string) => string = (v) => v) {
  return optionalText.transform((v, ctx) => {
    if (v === undefined) return null;
    const problem = plainUrlProblem(v, queryAllowed);
    if (problem) {
      ctx.addIssue({ code: "custom", message: problem });
      return z.NEVER;
    }
    return tidy(v);
  });
}

/** Text a parser turns into a value, its thrown message becoming the variable's error. */
function parsedBy<T>(parse: (v: string) => T) {
  return optionalText.transform((v, ctx) => {
    try {
      return parse(v ?? "");
    } catch (err) {
      ctx.addIssue({ code: "custom", message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  });
}

export const DELIVERY_ENV = {
  PUBLIC_URL: operatorUrl(false, (v) => v.replace(/\/+$/, "")),
  FORGES: parsedBy((v) => withDefaults(parseForges(v))),
  // May carry a token of the receiver's in its path or query: hence a query is allowed, and never quoted.
  WEBHOOK_URL: operatorUrl(true),
  WEBHOOK_SECRET: optionalText.refine((v) => v === undefined || v.length >= 16, "must be at least 16 characters (a random string: openssl rand -hex 32)"),
  WEBHOOK_ALLOWED_PREFIXES: parsedBy((v) => parseWebhookPrefixes(v.split(",").map((p) => p.trim()).filter(Boolean))),
  WEBHOOK_EVENTS: withDefault(
    (v) => {
      const list = v.split(",").map((e) => e.trim()).filter(Boolean);
      return list.length > 0 && list.every((e) => (WEBHOOK_EVENTS as readonly string[]).includes(e)) ? [...new Set(list as WebhookEvent[])] : null;
    },
    DEFAULTS.WEBHOOK_EVENTS,
    `must be a comma-separated list of ${WEBHOOK_EVENTS.join(", ")}`,
  ),
  WEBHOOK_TIMEOUT: withDefault((v) => positive(parseDuration(v)), DEFAULTS.WEBHOOK_TIMEOUT, "must be a positive Go duration such as 10s"),
  WEBHOOK_MAX_ATTEMPTS: withDefault((v) => (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 50 ? Number(v) : null), DEFAULTS.WEBHOOK_MAX_ATTEMPTS, "must be a whole number from 1 to 50"),
  WEBHOOK_RETRY_BASE: withDefault((v) => positive(parseDuration(v)), DEFAULTS.WEBHOOK_RETRY_BASE, "must be a positive Go duration such as 5s"),
  WEBHOOK_RETRY_MAX: withDefault((v) => positive(parseDuration(v)), DEFAULTS.WEBHOOK_RETRY_MAX, "must be a positive Go duration such as 1h"),
  WEBHOOK_CONCURRENCY: withDefault((v) => (/^\d+$/.test(v) && Number(v) >= 1 ? Number(v) : null), DEFAULTS.WEBHOOK_CONCURRENCY, "must be a whole number of at least 1"),
};
