// A provider stand-in on the loopback that answers every request and keeps the authorization header each one carried.
export interface RecordingUpstream {
  server: ReturnType<typeof Bun.serve>;
  /** Each request's authorization header, in order ("" when it had none). */
  keys: string[];
}

export function recordingUpstream(): RecordingUpstream {
  const keys: string[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      keys.push(req.headers.get("authorization") ?? "");
      return Response.json({ ok: true });
    },
  });
  return { server, keys };
}
