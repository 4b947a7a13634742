// What a follow-up needs from a finished run — its opencode session files and any commits kept unpushed — as one compressed blob.
import { z } from "zod";

/** opencode's session database as the run's agent left it (the WAL holds what was not checkpointed). */
export interface SessionFiles {
  sessionId: string;
  /** The directory the session worked in: opencode continues a session only there. */
  directory: string;
  files: { name: string; data: Uint8Array }[];
}

/** Commits the server kept instead of pushing (push: false, a failed push): a git bundle of `branch` beyond `prerequisite`. */
export interface KeptCommits {
  branch: string;
  head: string;
  /** A commit the remote has (the bundle needs it); null: the bundle holds the whole history. */
  prerequisite: string | null;
  bundle: Uint8Array;
}

export interface Continuation {
  session: SessionFiles;
  commits: KeptCommits | null;
}

/** A run whose session and commits exceed this (uncompressed) is not kept: its follow-ups are refused (410). */
export const MAX_CONTINUATION_BYTES = 64 * 1024 * 1024;

const Header = z.object({
  v: z.literal(1),
  sessionId: z.string(),
  directory: z.string(),
  files: z.array(z.object({ name: z.string(), size: z.number().int().nonnegative() })),
  commits: z.object({ branch: z.string(), head: z.string(), prerequisite: z.string().nullable(), size: z.number().int().nonnegative() }).nullable(),
});

export function continuationSize(c: Continuation): number {
  return c.session.files.reduce((n, f) => n + f.data.length, 0) + (c.commits?.bundle.length ?? 0);
}

/** [header length: 4 bytes][header JSON][the files' bytes, then the bundle's], gzipped. */
export function encodeContinuation(c: Continuation): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({
      v: 1,
      sessionId: c.session.sessionId,
      directory: c.session.directory,
      files: c.session.files.map((f) => ({ name: f.name, size: f.data.length })),
      commits: c.commits ? { branch: c.commits.branch, head: c.commits.head, prerequisite: c.commits.prerequisite, size: c.commits.bundle.length } : null,
    } satisfies z.infer<typeof Header>),
  );
  const parts = [header, ...c.session.files.map((f) => f.data), ...(c.commits ? [c.commits.bundle] : [])];
  const out = new Uint8Array(4 + parts.reduce((n, p) => n + p.length, 0));
  new DataView(out.buffer).setUint32(0, header.length);
  let at = 4;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return Bun.gzipSync(out);
}

export function decodeContinuation(blob: Uint8Array): Continuation {
  const raw = Bun.gunzipSync(new Uint8Array(blob));
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const headerLength = view.getUint32(0);
  const header = Header.parse(JSON.parse(new TextDecoder().decode(raw.subarray(4, 4 + headerLength))));
  let at = 4 + headerLength;
  const take = (size: number) => {
    if (at + size > raw.length) throw new Error("a kept session is shorter than its header says");
    const part = raw.slice(at, at + size);
    at += size;
    return part;
  };
  const files = header.files.map((f) => ({ name: f.name, data: take(f.size) }));
  const commits = header.commits ? { branch: header.commits.branch, head: header.commits.head, prerequisite: header.commits.prerequisite, bundle: take(header.commits.size) } : null;
  return { session: { sessionId: header.sessionId, directory: header.directory, files }, commits };
}
