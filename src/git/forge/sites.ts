// The FORGES setting: which forge (and REST API) serves the repositories under each URL prefix.
import { FORGE_KINDS, type ForgeKind, type ForgeSite } from "./types.ts";

const GITHUB_COM: ForgeSite = { prefix: "https://github.com/", kind: "github", apiUrl: "https://api.github.com" };

function isKind(value: string): value is ForgeKind {
  return (FORGE_KINDS as readonly string[]).includes(value);
}

/** How an error names an entry: verbatim, unless it could carry a secret (userinfo, query, fragment), which is never echoed. */
function entryName(entry: string, index: number): string {
  return /[@?#]/.test(entry) ? `FORGES entry ${index + 1} (not shown: it contains "@", "?" or "#")` : `FORGES entry ${index + 1} "${entry}"`;
}

function httpUrl(raw: string, what: string, name: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${name}: the ${what} is not a URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error(`${name}: the ${what} must be an http(s) URL`);
  // The raw checks catch an empty "?" or "#", which URL drops.
  if (url.username || url.password || url.search || url.hash || /[@?#]/.test(raw)) {
    throw new Error(`${name}: the ${what} must not contain credentials, a query or a fragment`);
  }
  return url;
}

function defaultApiUrl(kind: ForgeKind, prefix: URL): string {
  const origin = `${prefix.protocol}//${prefix.host}`;
  switch (kind) {
    case "github":
      return prefix.host === "github.com" ? "https://api.github.com" : `${origin}/api/v3`;
    case "gitlab":
      return `${origin}/api/v4`;
    case "gitea":
      return `${origin}/api/v1`;
  }
}

function parseEntry(entry: string, index: number): ForgeSite {
  const name = entryName(entry, index);
  const eq = entry.indexOf("=");
  if (eq <= 0) throw new Error(`${name}: expected <url prefix>=<kind> or <url prefix>=<kind>:<api url>`);
  const rest = entry.slice(eq + 1).trim();
  const colon = rest.indexOf(":");
  const kind = (colon === -1 ? rest : rest.slice(0, colon)).trim().toLowerCase();
  if (!isKind(kind)) throw new Error(`${name}: the kind must be one of ${FORGE_KINDS.join(", ")}`);
  const prefix = httpUrl(entry.slice(0, eq).trim(), "URL prefix", name);
  const path = prefix.pathname.endsWith("/") ? prefix.pathname : `${prefix.pathname}/`;
  let apiUrl = defaultApiUrl(kind, prefix);
  if (colon !== -1) {
    const api = httpUrl(rest.slice(colon + 1).trim(), "API URL", name);
    // The token travels to the API: it may go in clear text only where the operator already accepted http for the repositories.
    if (api.protocol === "http:" && prefix.protocol !== "http:") throw new Error(`${name}: an http:// API URL needs an http:// URL prefix`);
    apiUrl = `${api.protocol}//${api.host}${api.pathname}`.replace(/\/+$/, "");
  }
  return { prefix: `${prefix.protocol}//${prefix.host}${path}`, kind, apiUrl };
}

/** Parses FORGES: comma-separated `<url prefix>=<kind>[:<api url>]`. Throws naming the bad entry. */
export function parseForges(raw: string): ForgeSite[] {
  const sites: ForgeSite[] = [];
  raw
    .split(",")
    .map((e) => e.trim())
    .forEach((entry, index) => {
      if (entry === "") return;
      const site = parseEntry(entry, index);
      if (sites.some((s) => s.prefix === site.prefix)) throw new Error(`${entryName(entry, index)}: the prefix ${site.prefix} is configured twice`);
      sites.push(site);
    });
  return sites;
}

/** Adds github.com (api.github.com) unless the operator configured that prefix themselves. */
export function withDefaults(sites: readonly ForgeSite[]): ForgeSite[] {
  return sites.some((s) => s.prefix === GITHUB_COM.prefix) ? [...sites] : [...sites, { ...GITHUB_COM }];
}

/** The site with the longest prefix that `repoHref` lies under (at path-segment boundaries), and the repository's path on it. */
export function siteFor(sites: readonly ForgeSite[], repoHref: string): { site: ForgeSite; repoPath: string } | null {
  let url: URL;
  try {
    url = new URL(repoHref);
  } catch {
    return null;
  }
  const base = `${url.protocol}//${url.host.toLowerCase()}`;
  // "/acme" counts as under "/acme/": the prefix's trailing "/" is the segment boundary, so "/acme-evil" never is.
  const path = url.pathname.endsWith("/") ? url.pathname : `${url.pathname}/`;
  let best: ForgeSite | null = null;
  for (const site of sites) {
    const prefix = new URL(site.prefix);
    if (`${prefix.protocol}//${prefix.host}` !== base || !path.startsWith(prefix.pathname)) continue;
    if (!best || site.prefix.length > best.prefix.length) best = site;
  }
  if (!best) return null;
  let repoPath: string;
  try {
    // Decoded, because the clients encode each segment themselves for the API's paths.
    repoPath = url.pathname.replace(/^\/+/, "").replace(/\/+$/, "").replace(/\.git$/, "").split("/").map(decodeURIComponent).join("/");
  } catch {
    return null;
  }
  return repoPath === "" ? null : { site: best, repoPath };
}
