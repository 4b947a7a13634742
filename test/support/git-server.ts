// A real git smart-HTTP server on 127.0.0.1 for tests: git's own `git http-backend` behind Bun.serve, with token-protected repos.
import { mkdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { tempDir } from "./temp.ts";

export interface RepoSpec {
  /** Requires HTTP Basic auth whose password is the server's token, for reading and writing. */
  private?: boolean;
  /** Refuses every push with 403 (a token without write access). */
  readOnly?: boolean;
  /** No commits at all. */
  empty?: boolean;
  /** Never answers (until the client goes away): a hung git host. */
  stall?: boolean;
  /** Files on the default branch `main` (bytes for incompressible content). */
  files?: Record<string, string | Uint8Array>;
  /** Other branches: each starts from main and adds these files. */
  branches?: Record<string, Record<string, string | Uint8Array>>;
}

export interface GitRequest {
  method: string;
  path: string;
  service: string | null;
  authorization: string | null;
  /** Bytes of the answer's body (what the client downloaded). */
  bytes: number;
}

export interface GitServer {
  url: string;
  root: string;
  requests: GitRequest[];
  repoUrl(name: string): string;
  createRepo(name: string, spec?: RepoSpec): Promise<string>;
  /** Runs git against a bare repository on the server. */
  git(name: string, ...args: string[]): Promise<string>;
  /** The commit a branch points at, or null. */
  head(name: string, branch: string): Promise<string | null>;
  /**
   * Arms a one-shot network fault (needs `startGitServer({ faults: true })`): the next connection
   * that moves `afterBytes` in `direction` is cut there. Resolves with `performance.now()` when it fired.
   */
  cutNext(spec: CutSpec): Promise<number>;
  stop(): Promise<void>;
}

/** A connection cut mid-transfer, as a crashing host or a dropped network would. */
export interface CutSpec {
  /** "download": bytes from the server to git (a clone's or fetch's pack); "upload": from git (a push's pack). */
  direction: "download" | "upload";
  /** Cut once one connection has carried this many bytes (HTTP headers included) that way. */
  afterBytes: number;
  /** Also stop the whole server: every connection is cut and nothing listens any more. */
  die?: boolean;
}

const GIT_ENV = {
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_AUTHOR_NAME: "Fixture",
  GIT_AUTHOR_EMAIL: "fixture@example.test",
  GIT_COMMITTER_NAME: "Fixture",
  GIT_COMMITTER_EMAIL: "fixture@example.test",
  LC_ALL: "C",
};

export async function git(cwd: string, ...args: string[]): Promise<string> {
  const proc = Bun.spawn(["git", ...args], { cwd, env: GIT_ENV, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`git ${args.join(" ")} failed (${code}): ${err}`);
  return out;
}

function writeFiles(dir: string, files: Record<string, string | Uint8Array>): void {
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
}

function splitCgi(output: Uint8Array): { status: number; headers: Headers; body: Uint8Array<ArrayBuffer> } {
  const text = Buffer.from(output);
  let end = text.indexOf("\r\n\r\n");
  let sep = 4;
  if (end === -1) {
    end = text.indexOf("\n\n");
    sep = 2;
  }
  const head = text.subarray(0, end).toString("latin1");
  const headers = new Headers();
  let status = 200;
  for (const line of head.split(/\r?\n/)) {
    const at = line.indexOf(":");
    if (at === -1) continue;
    const name = line.slice(0, at).trim();
    const value = line.slice(at + 1).trim();
    if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
    else headers.append(name, value);
  }
  return { status, headers, body: new Uint8Array(text.subarray(end + sep)) };
}

/** Models a remote host: every request waits `latencyMs`, answers stream at `bytesPerSecond`. */
export interface Throttle {
  latencyMs: number;
  bytesPerSecond: number;
}

function throttled(body: Uint8Array, bytesPerSecond: number): ReadableStream<Uint8Array> {
  const chunk = 16 * 1024;
  let offset = 0;
  return new ReadableStream({
    async pull(controller) {
      if (offset >= body.length) return controller.close();
      const piece = body.subarray(offset, offset + chunk);
      offset += piece.length;
      await Bun.sleep((piece.length / bytesPerSecond) * 1000);
      controller.enqueue(piece);
    },
  });
}

interface FaultProxy {
  port: number;
  cutNext(spec: CutSpec, die: () => void): Promise<number>;
  close(): void;
}

/**
 * A TCP relay in front of the HTTP server that can cut a connection part-way through a transfer:
 * the only way to drop a socket mid-body, which an HTTP handler cannot do.
 */
async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  const sockets = new Set<net.Socket>();
  let armed: { spec: CutSpec; fired: (at: number) => void; die: () => void } | null = null;
  const closeAll = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    sockets.add(client);
    sockets.add(upstream);
    const moved = { upload: 0, download: 0 };
    const relay = (from: net.Socket, to: net.Socket, direction: CutSpec["direction"]) => {
      from.on("data", (chunk: Buffer) => {
        const fault = armed;
        if (fault && fault.spec.direction === direction && moved[direction] + chunk.length >= fault.spec.afterBytes) {
          armed = null;
          client.destroy();
          upstream.destroy();
          if (fault.spec.die) fault.die();
          fault.fired(performance.now());
          return;
        }
        moved[direction] += chunk.length;
        if (!to.write(chunk)) {
          from.pause();
          to.once("drain", () => from.resume());
        }
      });
      from.on("end", () => to.end());
      from.on("error", () => to.destroy());
      from.on("close", () => {
        sockets.delete(from);
        to.destroy();
      });
    };
    relay(client, upstream, "upload");
    relay(upstream, client, "download");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("fault proxy: no port");
  return {
    port: address.port,
    cutNext: (spec, die) => new Promise<number>((fired) => (armed = { spec, fired, die })),
    close() {
      armed = null;
      server.close();
      closeAll();
    },
  };
}

export function startGitServer(opts: { token: string; throttle?: Throttle }): GitServer;
/** With `faults`, git talks to the server through a relay whose connections `cutNext` can cut. */
export function startGitServer(opts: { token: string; throttle?: Throttle; faults: true }): Promise<GitServer>;
export function startGitServer(opts: { token: string; throttle?: Throttle; faults?: boolean }): GitServer | Promise<GitServer> {
  const root = tempDir("ocs-git-root-");
  const specs = new Map<string, RepoSpec>();
  const requests: GitRequest[] = [];
  const expected = `Basic ${Buffer.from(`x-access-token:${opts.token}`).toString("base64")}`;

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 60,
    async fetch(req) {
      const url = new URL(req.url);
      const service = url.searchParams.get("service") ?? (url.pathname.endsWith("/git-receive-pack") ? "git-receive-pack" : url.pathname.endsWith("/git-upload-pack") ? "git-upload-pack" : null);
      const authorization = req.headers.get("authorization");
      const record: GitRequest = { method: req.method, path: url.pathname, service, authorization, bytes: 0 };
      requests.push(record);
      // Names may have segments of their own (owner/repo, group/subgroup/project), as on a forge.
      const name = /^\/(.+?)\.git(?:\/|$)/.exec(url.pathname)?.[1] ?? url.pathname.split("/")[1] ?? "";
      const spec = specs.get(name);
      if (!spec) return new Response("repository not found", { status: 404 });
      if (spec.private && authorization !== expected) {
        return new Response("authentication required", { status: 401, headers: { "www-authenticate": 'Basic realm="test git"' } });
      }
      if (spec.readOnly && service === "git-receive-pack") return new Response("write access denied", { status: 403 });
      if (spec.stall) {
        return new Promise<Response>((resolve) => req.signal.addEventListener("abort", () => resolve(new Response("gone", { status: 503 })), { once: true }));
      }
      let body: Uint8Array;
      try {
        body = req.body ? new Uint8Array(await req.arrayBuffer()) : new Uint8Array(0);
      } catch {
        // The client (or a cut connection) went away mid-upload: there is no one to answer.
        return new Response("upload interrupted", { status: 400 });
      }
      const proc = Bun.spawn(["git", "http-backend"], {
        env: {
          ...GIT_ENV,
          GIT_PROJECT_ROOT: root,
          GIT_HTTP_EXPORT_ALL: "1",
          REQUEST_METHOD: req.method,
          PATH_INFO: url.pathname,
          QUERY_STRING: url.search.slice(1),
          CONTENT_TYPE: req.headers.get("content-type") ?? "",
          CONTENT_LENGTH: String(body.length),
          REMOTE_USER: authorization ? "token-user" : "anonymous",
          REMOTE_ADDR: "127.0.0.1",
          ...(req.headers.get("content-encoding") ? { HTTP_CONTENT_ENCODING: req.headers.get("content-encoding") as string } : {}),
          ...(req.headers.get("git-protocol") ? { GIT_PROTOCOL: req.headers.get("git-protocol") as string } : {}),
        },
        stdin: body,
        stdout: "pipe",
        stderr: "pipe",
      });
      const [out] = await Promise.all([new Response(proc.stdout).arrayBuffer(), proc.exited]);
      const cgi = splitCgi(new Uint8Array(out));
      record.bytes = cgi.body.length;
      if (opts.throttle) {
        await Bun.sleep(opts.throttle.latencyMs);
        return new Response(throttled(cgi.body, opts.throttle.bytesPerSecond), { status: cgi.status, headers: cgi.headers });
      }
      return new Response(cgi.body, { status: cgi.status, headers: cgi.headers });
    },
  });

  const bare = (name: string) => path.join(root, `${name}.git`);
  const make = (port: number, proxy: FaultProxy | null): GitServer => {
    const url = `http://127.0.0.1:${port}`;
    return {
      url,
      root,
      requests,
      repoUrl: (name) => `${url}/${name}.git`,
      async createRepo(name, spec = {}) {
        specs.set(name, spec);
        await git(root, "init", "--quiet", "--bare", "-b", "main", bare(name));
        await git(bare(name), "config", "http.receivepack", "true");
        if (spec.empty) return bare(name);
        const work = tempDir("ocs-git-seed-");
        await git(work, "init", "--quiet", "-b", "main");
        writeFiles(work, spec.files ?? { "README.md": `# ${name}\n` });
        await git(work, "add", "-A");
        await git(work, "commit", "--quiet", "-m", "initial commit");
        await git(work, "push", "--quiet", bare(name), "main");
        for (const [branch, files] of Object.entries(spec.branches ?? {})) {
          await git(work, "checkout", "--quiet", "-b", branch, "main");
          writeFiles(work, files);
          await git(work, "add", "-A");
          await git(work, "commit", "--quiet", "-m", `work on ${branch}`);
          await git(work, "push", "--quiet", bare(name), branch);
        }
        return bare(name);
      },
      git: (name, ...args) => git(bare(name), ...args),
      async head(name, branch) {
        try {
          return (await git(bare(name), "rev-parse", "--verify", "--quiet", `refs/heads/${branch}`)).trim() || null;
        } catch {
          return null;
        }
      },
      cutNext(spec) {
        if (!proxy) throw new Error("cutNext needs startGitServer({ faults: true })");
        return proxy.cutNext(spec, () => {
          proxy.close();
          void server.stop(true);
        });
      },
      async stop() {
        proxy?.close();
        await server.stop(true);
      },
    };
  };
  if (!opts.faults) return make(server.port as number, null);
  return startFaultProxy(server.port as number).then((proxy) => make(proxy.port, proxy));
}

/** A `git` that logs every invocation before running the real one: proves when no git process was started. */
export function loggingGit(): { bin: string; log: string; invocations(): Promise<string[]> } {
  const dir = tempDir("ocs-git-spy-");
  const log = path.join(dir, "invocations.log");
  const bin = path.join(dir, "git");
  const real = Bun.which("git") ?? "/usr/bin/git";
  writeFileSync(bin, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
  writeFileSync(log, "");
  return {
    bin,
    log,
    async invocations() {
      return (await Bun.file(log).text()).split("\n").filter(Boolean);
    },
  };
}
