// What a page load moved over the network, by path, from Chrome's own accounting (DevTools protocol): compressed, headers included.
import type { CDPSession } from "puppeteer-core";

export interface Transfer {
  /** Bytes by response path, as they arrive. */
  readonly byPath: Map<string, number>;
  /** The bytes of the responses whose path `keep` accepts. */
  sum(keep?: (path: string) => boolean): number;
}

/** Starts counting on `cdp` (Network must be enabled). */
export function countTransfer(cdp: CDPSession): Transfer {
  const paths = new Map<string, string>();
  const byPath = new Map<string, number>();
  cdp.on("Network.responseReceived", (e) => paths.set(e.requestId, new URL(e.response.url).pathname));
  cdp.on("Network.loadingFinished", (e) => {
    const p = paths.get(e.requestId) ?? "?";
    byPath.set(p, (byPath.get(p) ?? 0) + e.encodedDataLength);
  });
  return { byPath, sum: (keep = () => true) => [...byPath].filter(([p]) => keep(p)).reduce((n, [, b]) => n + b, 0) };
}
