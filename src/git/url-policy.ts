// Which repository URLs a run may use: syntax checks (400) before any git command, then the operator's allow-list (403).

export class RepositoryUrlError extends Error {
  override readonly name = "RepositoryUrlError";
  constructor(
    message: string,
    /** "invalid" → 400, "not_allowed" → 403. */
    readonly kind: "invalid" | "not_allowed",
  ) {
    super(message);
  }
}

export interface RepositoryUrl {
  /** Normalised URL handed to git (no credentials, no query, no fragment). */
  href: string;
  protocol: "https:" | "http:";
  /** host[:port], lower case. */
  host: string;
  /** scheme://host[:port]/ — what host-scoped git settings are keyed by. */
  origin: string;
}

const MAX_URL_LENGTH = 2048;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const SCP_LIKE = /^[^/:]+@[^/:]+:/;

/** Refuses everything that is not a plain http(s) URL: option injection, other transports, credentials, control characters. */
export function checkRepositoryUrl(raw: string): URL {
  if (raw.length === 0) throw new RepositoryUrlError("repository must not be empty", "invalid");
  if (raw.length > MAX_URL_LENGTH) throw new RepositoryUrlError(`repository is longer than ${MAX_URL_LENGTH} characters`, "invalid");
  if (CONTROL.test(raw)) throw new RepositoryUrlError("repository contains control characters", "invalid");
  if (raw.startsWith("-")) throw new RepositoryUrlError("repository must not start with '-'", "invalid");
  if (/\s/.test(raw)) throw new RepositoryUrlError("repository must not contain whitespace", "invalid");
  if (/^[A-Za-z][A-Za-z0-9+.-]*::/.test(raw)) throw new RepositoryUrlError("git remote-helper syntax (transport::address) is not accepted", "invalid");
  if (SCP_LIKE.test(raw)) throw new RepositoryUrlError("ssh repositories are not supported: use an https:// URL", "invalid");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new RepositoryUrlError("repository is not a valid URL", "invalid");
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new RepositoryUrlError(`repository scheme ${url.protocol} is not supported: use an https:// URL`, "invalid");
  }
  if (url.username || url.password || raw.slice(0, raw.indexOf(url.host)).includes("@")) {
    throw new RepositoryUrlError("repository must not contain credentials: the server authenticates with GITHUB_TOKEN / GIT_TOKEN", "invalid");
  }
  if (url.search || url.hash || raw.includes("?") || raw.includes("#")) {
    throw new RepositoryUrlError("repository must not have a query string or fragment", "invalid");
  }
  if (url.pathname === "/" || url.pathname === "") throw new RepositoryUrlError("repository URL has no path", "invalid");
  // "acme/..%2Fother" is under "acme/" here, but a host that decodes %2F (or %5C) before resolving ".." serves "other".
  if (/%2f|%5c/i.test(url.pathname)) throw new RepositoryUrlError("repository path must not contain an encoded slash or backslash (%2F, %5C)", "invalid");
  // Servlet-style hosts read "..;/" as "../" after the prefix check; no git host needs ";" in a path.
  if (url.pathname.includes(";")) throw new RepositoryUrlError('repository path must not contain ";"', "invalid");
  return url;
}

export interface RepoPrefix {
  protocol: string;
  host: string;
  path: string;
}

/** Parses ALLOWED_REPO_PREFIXES entries; throws with the offending entry. */
export function parsePrefixes(list: readonly string[]): RepoPrefix[] {
  return list.map((entry) => {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new Error(`"${entry}" is not a URL prefix such as https://github.com/my-org/`);
    }
    if ((url.protocol !== "https:" && url.protocol !== "http:") || url.username || url.password || url.search || url.hash) {
      throw new Error(`"${entry}" must be an http(s) URL prefix without credentials, query or fragment`);
    }
    return { protocol: url.protocol, host: url.host.toLowerCase(), path: url.pathname };
  });
}

/** Whether `url` lies under `prefix` (scheme, host, then the path at a segment boundary): repositories and callbacks alike. */
export function underPrefix(url: URL, prefix: RepoPrefix): boolean {
  if (url.protocol !== prefix.protocol || url.host.toLowerCase() !== prefix.host) return false;
  if (prefix.path === "/" || prefix.path === "") return true;
  // Compare at path-segment boundaries: "https://github.com/acme" must not admit "https://github.com/acme-evil/x".
  const base = prefix.path.endsWith("/") ? prefix.path : `${prefix.path}/`;
  return url.pathname === prefix.path || url.pathname.startsWith(base);
}

/** A checked URL as git gets it (no further checks: from checkRepositoryUrl, or from the store that kept its href). */
export function repositoryUrlOf(url: URL): RepositoryUrl {
  const host = url.host.toLowerCase();
  return { href: url.href, protocol: url.protocol as "https:" | "http:", host, origin: `${url.protocol}//${host}/` };
}

/** Checks an already validated URL against the allow-list. http:// is only accepted where a prefix allows it explicitly. */
export function allowedRepository(url: URL, prefixes: readonly RepoPrefix[]): RepositoryUrl {
  if (!prefixes.some((p) => underPrefix(url, p))) {
    const allowed = prefixes.map((p) => `${p.protocol}//${p.host}${p.path}`).join(", ") || "none";
    throw new RepositoryUrlError(`repository ${url.protocol}//${url.host}${url.pathname} is not allowed on this server (ALLOWED_REPO_PREFIXES: ${allowed})`, "not_allowed");
  }
  return repositoryUrlOf(url);
}

/** Validates `raw` and checks it against the allow-list (both steps at once, for callers holding a raw string). */
export function resolveRepositoryUrl(raw: string, prefixes: readonly RepoPrefix[]): RepositoryUrl {
  return allowedRepository(checkRepositoryUrl(raw), prefixes);
}
