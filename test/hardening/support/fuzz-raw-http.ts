// Raw HTTP/1.1 over a TCP socket (Bun.connect): exact request bytes out, one parsed answer back, within a deadline.

export interface RawResponse {
  status: number;
  /** Header lines in the order the server wrote them, names as written. */
  headers: [string, string][];
  body: Uint8Array;
  /** The whole answer as received (status line, headers, body), for byte-for-byte comparisons. */
  raw: Uint8Array;
}

export type RawOutcome =
  | { kind: "response"; response: RawResponse }
  /** The server closed the connection without a (complete) answer. */
  | { kind: "closed"; received: number }
  | { kind: "timeout"; received: number };

export function headerOf(response: RawResponse, name: string): string | null {
  const lower = name.toLowerCase();
  return response.headers.find(([n]) => n.toLowerCase() === lower)?.[1] ?? null;
}

const CRLFCRLF = Buffer.from("\r\n\r\n");

/** Decodes a chunked body; null while it is incomplete. */
function dechunk(buf: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf("\r\n", at);
    if (eol === -1) return null;
    const size = Number.parseInt(buf.subarray(at, eol).toString("latin1").split(";")[0] ?? "", 16);
    if (!Number.isFinite(size)) throw new Error(`bad chunk size in answer: ${buf.subarray(at, eol).toString("latin1")}`);
    const start = eol + 2;
    // The last chunk is followed by optional trailers and an empty line.
    if (size === 0) return buf.subarray(start, start + 2).toString("latin1") === "\r\n" || buf.indexOf(CRLFCRLF, eol) !== -1 ? Buffer.concat(parts) : null;
    if (buf.length < start + size + 2) return null;
    parts.push(buf.subarray(start, start + size));
    at = start + size + 2;
  }
}

/** Parses the first answer in `buf` (skipping 1xx); null until it is complete. `eof`: the server closed; `head`: an answer to HEAD (no body). */
export function parseResponse(buf: Buffer, eof: boolean, toHead = false): RawResponse | null {
  let offset = 0;
  for (;;) {
    const end = buf.indexOf(CRLFCRLF, offset);
    if (end === -1) return null;
    const lines = buf.subarray(offset, end).toString("latin1").split("\r\n");
    const statusLine = /^HTTP\/\d\.\d (\d{3})/.exec(lines[0] ?? "");
    if (!statusLine) throw new Error(`not an HTTP answer: ${JSON.stringify((lines[0] ?? "").slice(0, 80))}`);
    const status = Number(statusLine[1]);
    const headers = lines.slice(1).map((line): [string, string] => {
      const colon = line.indexOf(":");
      return [line.slice(0, colon), line.slice(colon + 1).trim()];
    });
    const bodyStart = end + 4;
    if (status >= 100 && status < 200) {
      offset = bodyStart;
      continue;
    }
    const response = (body: Buffer, through: number): RawResponse => ({ status, headers, body: new Uint8Array(body), raw: new Uint8Array(buf.subarray(offset, through)) });
    const find = (name: string) => headers.find(([n]) => n.toLowerCase() === name)?.[1] ?? null;
    const rest = buf.subarray(bodyStart);
    if (toHead) return response(Buffer.alloc(0), bodyStart);
    if ((find("transfer-encoding") ?? "").toLowerCase().includes("chunked")) {
      const body = dechunk(rest);
      return body ? response(body, buf.length) : null;
    }
    const length = find("content-length");
    if (length !== null) {
      const n = Number(length);
      return rest.length >= n ? response(rest.subarray(0, n), bodyStart + n) : null;
    }
    return eof ? response(rest, buf.length) : null;
  }
}

/** Sends `request` on a fresh connection and resolves with the first answer, a close, or a timeout. */
export function rawExchange(port: number, request: Uint8Array | string, deadlineMs: number, opts: { head?: boolean } = {}): Promise<RawOutcome> {
  const bytes = typeof request === "string" ? Buffer.from(request, "latin1") : Buffer.from(request);
  return new Promise<RawOutcome>((resolve, reject) => {
    let received = Buffer.alloc(0);
    let written = 0;
    let settled = false;
    let socket: { end(): void; write(data: Uint8Array): number } | null = null;
    const settle = (outcome: RawOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.end();
      resolve(outcome);
    };
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.end();
      reject(error instanceof Error ? error : new Error(String(error)));
    };
    const check = (eof: boolean) => {
      try {
        const parsed = parseResponse(received, eof, opts.head);
        if (parsed) settle({ kind: "response", response: parsed });
        else if (eof) settle({ kind: "closed", received: received.length });
      } catch (error) {
        fail(error);
      }
    };
    const pump = () => {
      while (socket && written < bytes.length) {
        const n = socket.write(bytes.subarray(written));
        if (n <= 0) return;
        written += n;
      }
    };
    // A deadline, not a sleep: the exchange fails the test only if the server neither answers nor closes.
    const timer = setTimeout(() => settle({ kind: "timeout", received: received.length }), deadlineMs);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(s) {
          socket = s;
          pump();
        },
        drain() {
          pump();
        },
        data(_s, chunk) {
          received = Buffer.concat([received, chunk]);
          check(false);
        },
        close() {
          check(true);
        },
        end() {
          check(true);
        },
        error() {
          check(true);
        },
        connectError(_s, error) {
          fail(error);
        },
      },
    }).catch(fail);
  });
}
