// The web dashboard: /ui and its assets, embedded in the binary, under a strict Content-Security-Policy; / redirects to it.
import { Elysia } from "elysia";
import { AppError } from "../../errors.ts";
import { PAGE_HEADERS } from "../../http/page-headers.ts";
import { buildAssets, type Asset } from "./assets.ts";

export const DASHBOARD_PATH = "/ui";

/** Accept-Encoding names gzip (or *) without q=0. */
export function acceptsGzip(header: string | null): boolean {
  return (header ?? "").split(",").some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    return (coding === "gzip" || coding === "*") && (q === undefined || Number(q.slice(2)) > 0);
  });
}

function serve(a: Asset, request: Request): Response {
  const headers: Record<string, string> = {
    ...PAGE_HEADERS,
    "content-type": a.type,
    etag: a.etag,
    "cache-control": a.immutable ? "public, max-age=31536000, immutable" : "no-cache",
    vary: "accept-encoding",
  };
  if (request.headers.get("if-none-match") === a.etag) return new Response(null, { status: 304, headers });
  const gzip = acceptsGzip(request.headers.get("accept-encoding"));
  if (gzip) headers["content-encoding"] = "gzip";
  return new Response(gzip ? a.gzip : a.body, { headers });
}

export function dashboardModule() {
  const assets = buildAssets(DASHBOARD_PATH);
  const page = ({ request }: { request: Request }) => serve(assets.page, request);
  return new Elysia({ name: "dashboard" })
    .get("/", ({ redirect }) => redirect(DASHBOARD_PATH, 302), { detail: { hide: true } })
    .get(DASHBOARD_PATH, page, { detail: { hide: true } })
    .get(`${DASHBOARD_PATH}/`, page, { detail: { hide: true } })
    .get(`${DASHBOARD_PATH}/runs/:id`, page, { detail: { hide: true } })
    .get(
      `${DASHBOARD_PATH}/assets/:name`,
      ({ params, request }) => {
        const file = assets.files.get(params.name);
        if (!file) throw new AppError("not_found", "No such dashboard file");
        return serve(file, request);
      },
      { detail: { hide: true } },
    );
}
