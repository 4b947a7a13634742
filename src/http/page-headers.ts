// The headers every HTML page (and its files) goes out with: a strict Content-Security-Policy and its companions.

/**
 * Only this origin's own files run, nothing inline (no script, no style attribute), no frames, no
 * third party: agent output that slips into a page as markup still cannot run or load anything.
 */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": PAGE_CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
};
