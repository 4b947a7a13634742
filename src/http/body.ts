// Reads request bodies without ever holding more than MAX_REQUEST_SIZE, refusing oversized ones with 413.
import { Elysia } from "elysia";
import { AppError } from "../errors.ts";

function tooLarge(maxBytes: number): AppError {
  return new AppError("payload_too_large", `Request too large: the body exceeds MAX_REQUEST_SIZE (${maxBytes} bytes)`);
}

/** Refuses a declared Content-Length over the limit before anything is read. */
export function contentLengthGuard(maxBytes: number) {
  return new Elysia({ name: "content-length-guard" }).onRequest(({ request }) => {
    const declared = request.headers.get("content-length");
    if (declared === null) return;
    if (!/^\d+$/.test(declared.trim())) throw new AppError("invalid_request", "Content-Length is not a number");
    if (Number(declared) > maxBytes) throw tooLarge(maxBytes);
  });
}

/** Reads the whole body, counting as it goes: a chunked body is cut off at the limit, not buffered. */
export async function readBodyLimited(request: Request, maxBytes: number): Promise<Uint8Array> {
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge(maxBytes);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks, size);
}

export type BodyKind = "json" | "text";

/** JSON for JSON media types; text for text/*, form-encoded (curl -d's default) or none; multipart is refused. */
export function bodyKind(contentType: string | null): BodyKind {
  const type = (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (type === "application/json" || /^application\/[\w.+-]+\+json$/.test(type)) return "json";
  if (type === "" || type.startsWith("text/") || type === "application/x-www-form-urlencoded" || type === "application/octet-stream") return "text";
  throw new AppError("unsupported_media_type", `Unsupported Content-Type "${type.slice(0, 100)}": send text/plain (the prompt) or application/json`);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses a prompt-carrying body: JSON as-is, plain text as `{ prompt }`. The result is then
 * validated by the route's zod schema.
 */
export async function parsePromptBody(request: Request, maxBytes: number): Promise<unknown> {
  const kind = bodyKind(request.headers.get("content-type"));
  const bytes = await readBodyLimited(request, maxBytes);
  if (bytes.length === 0) {
    throw new AppError("invalid_request", 'Request body is empty: send the prompt as text/plain, or JSON {"prompt": "..."}', { field: "prompt" });
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new AppError("invalid_request", "Request body is not valid UTF-8");
  }
  if (kind === "text") return { prompt: text };
  try {
    return JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message.slice(0, 200) : "parse error";
    throw new AppError("invalid_request", `Invalid JSON body: ${detail}`);
  }
}
