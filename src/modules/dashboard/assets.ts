// The dashboard's files as the server holds them: built once at start-up, content-hashed names, gzip made ahead.
import { dashboardScript, dashboardStyles } from "./bundle.ts" with { type: "macro" };

export interface Asset {
  body: Uint8Array<ArrayBuffer>;
  /** The same bytes gzipped, sent to clients that accept it. */
  gzip: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
  /** Hashed names never change content: cached for a year. The page itself is revalidated. */
  immutable: boolean;
}

const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#1f2937"/><path d="M9 11l6 5-6 5M17 22h7" stroke="#f9fafb" stroke-width="2.5" fill="none" stroke-linecap="round" stroke-linejoin="round"/></svg>`;

function asset(text: string, type: string, immutable: boolean): Asset {
  const body = new TextEncoder().encode(text);
  return { body, gzip: Bun.gzipSync(body, { level: 9 }), type, etag: `"${Bun.hash(body).toString(36)}"`, immutable };
}

function hashed(name: string, ext: string, text: string): string {
  return `${name}.${Bun.hash(text).toString(36).slice(0, 10)}.${ext}`;
}

export interface DashboardAssets {
  /** The one HTML page every dashboard path answers with (the browser code routes). */
  page: Asset;
  /** By file name under /ui/assets/. */
  files: ReadonlyMap<string, Asset>;
}

export function buildAssets(prefix: string): DashboardAssets {
  const script = dashboardScript();
  const styles = dashboardStyles();
  const js = hashed("app", "js", script);
  const css = hashed("app", "css", styles);
  const icon = hashed("icon", "svg", ICON);
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>opencode-server</title><link rel="icon" href="${prefix}/assets/${icon}" type="image/svg+xml"><link rel="stylesheet" href="${prefix}/assets/${css}">` +
    `<script type="module" src="${prefix}/assets/${js}"></script></head><body><div id="app"></div><noscript>The dashboard needs JavaScript; the API is described at /swagger.</noscript></body></html>`;
  return {
    page: asset(html, "text/html; charset=utf-8", false),
    files: new Map([
      [js, asset(script, "text/javascript; charset=utf-8", true)],
      [css, asset(styles, "text/css; charset=utf-8", true)],
      [icon, asset(ICON, "image/svg+xml", true)],
    ]),
  };
}
