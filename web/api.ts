// Same-origin API calls: the key header, 401 → key prompt then retry, JSON errors as ApiError.
import { authState, keyFor, refuseKey } from "./auth.ts";
import { isRecord } from "./types.ts";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly field: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export const isAbort = (e: unknown) => e instanceof DOMException && e.name === "AbortError";

/** The text to show for a failure: the server's `error`, or what went wrong on the way. */
export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof TypeError) return "Cannot reach the server";
  return e instanceof Error ? e.message : "Something went wrong";
}

async function errorOf(res: Response): Promise<ApiError> {
  try {
    const body: unknown = await res.json();
    if (isRecord(body) && typeof body.error === "string") {
      return new ApiError(body.error, res.status, typeof body.code === "string" ? body.code : "error", typeof body.field === "string" ? body.field : null);
    }
  } catch {
    // Not JSON (a proxy's page): fall through to the status line.
  }
  return new ApiError(`The server answered ${res.status} ${res.statusText}`.trim(), res.status, "http_error");
}

/**
 * fetch with the key. A 401 drops the key and waits for a new one, then sends the request again,
 * so whatever failed carries on once the prompt is answered.
 */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  for (;;) {
    const key = await keyFor(init.signal ?? undefined);
    const headers = new Headers(init.headers);
    if (key !== null) headers.set("authorization", `Bearer ${key}`);
    const res = await fetch(path, { ...init, headers, credentials: "same-origin" });
    if (res.status === 401 && authState().required) {
      refuseKey(key);
      continue;
    }
    if (!res.ok) throw await errorOf(res);
    return res;
  }
}

/** A JSON answer, checked by `as` (null: not the expected shape). */
export async function requestJson<T>(path: string, as: (x: unknown) => T | null, init: RequestInit = {}): Promise<T> {
  const res = await request(path, init);
  const body: unknown = await res.json();
  const value = as(body);
  if (value === null) throw new ApiError("The server sent an answer this page does not understand", res.status, "bad_response");
  return value;
}

export function postJson<T>(path: string, body: unknown, as: (x: unknown) => T | null, signal?: AbortSignal): Promise<T> {
  return requestJson(path, as, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body), signal: signal ?? null });
}
