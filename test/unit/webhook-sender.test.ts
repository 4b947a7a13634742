// One webhook delivery attempt against a real loopback receiver: outcomes, SSRF refusals that open no connection, address pinning, https; plus signatures and retry delays.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { retryDelayMs, scheduleSummary } from "../../src/webhooks/backoff.ts";
import { sendOnce, type ResolvedAddress, type SendRequest } from "../../src/webhooks/sender.ts";
import { signatureOf, verifySignature } from "../../src/webhooks/signature.ts";
import { checkWebhookUrl, parseWebhookPrefixes, type WebhookTarget } from "../../src/webhooks/url-policy.ts";
import { tempDir } from "../support/temp.ts";
import { waitFor } from "../support/wait.ts";
import { startWebhookReceiver, type WebhookReceiver } from "../support/webhook-receiver.ts";

const SECRET = "test-webhook-secret";
const BODY = JSON.stringify({ run_id: "run_1", status: "succeeded", note: "naïve ☃" });

let receiver: WebhookReceiver;
let other: WebhookReceiver;

/** A bare TCP listener that counts every connection it gets: the proof that a refused delivery opened none. */
interface Tripwire {
  port: number;
  connections: number;
  close(): Promise<void>;
}

async function tripwire(): Promise<Tripwire> {
  const server = net.createServer((socket) => {
    wire.connections++;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const wire: Tripwire = {
    port: (server.address() as net.AddressInfo).port,
    connections: 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  return wire;
}

function target(raw: string, prefixes: readonly string[]): WebhookTarget {
  return checkWebhookUrl(raw, parseWebhookPrefixes(prefixes));
}

function toReceiver(p = "/hooks/run_1"): WebhookTarget {
  return target(receiver.url(p), [receiver.url("/hooks/")]);
}

function send(over: Partial<SendRequest> = {}): ReturnType<typeof sendOnce> {
  return sendOnce({ target: toReceiver(), body: BODY, headers: { "X-Signature-256": signatureOf(SECRET, BODY) }, timeoutMs: 5_000, ...over });
}

/** A lookup that answers `answers` and counts how often it is asked. */
function fakeLookup(...answers: string[][]): { lookup: (h: string) => Promise<ResolvedAddress[]>; asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    lookup: async (hostname) => {
      asked.push(hostname);
      const list = answers[Math.min(asked.length - 1, answers.length - 1)] ?? [];
      return list.map((address) => ({ address, family: net.isIP(address) === 6 ? 6 : 4 }));
    },
  };
}

beforeAll(async () => {
  receiver = await startWebhookReceiver({ secret: SECRET });
  other = await startWebhookReceiver({ secret: SECRET });
});
afterAll(async () => {
  await receiver.stop();
  await other.stop();
});
beforeEach(() => {
  receiver.reset();
  other.reset();
});

describe("sendOnce against a loopback receiver", () => {
  test("a 2xx delivery arrives once, with the exact body, a valid signature and the given headers", async () => {
    const result = await send({ headers: { "X-Signature-256": signatureOf(SECRET, BODY), "X-Webhook-Event": "run.finished", "content-type": "text/plain" } });
    expect(result).toMatchObject({ status: 200, error: null, refused: false });
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    const [d] = await receiver.waitForDeliveries(1);
    expect(receiver.hits).toBe(1);
    expect(d?.method).toBe("POST");
    expect(d?.path).toBe("/hooks/run_1");
    expect(d?.body).toBe(BODY);
    expect(d?.json).toEqual(JSON.parse(BODY));
    expect(d?.signatureValid).toBe(true);
    expect(d?.headers["content-type"]).toBe("application/json");
    expect(d?.headers["x-webhook-event"]).toBe("run.finished");
    expect(d?.headers.host).toBe(`127.0.0.1:${receiver.port}`);
    expect(verifySignature(SECRET, d?.body ?? "", d?.headers["x-signature-256"])).toBe(true);
  });

  test("a wrong signature is what the receiver reports as invalid", async () => {
    await send({ headers: { "X-Signature-256": signatureOf("another-secret", BODY) } });
    expect((await receiver.waitForDeliveries(1))[0]?.signatureValid).toBe(false);
  });

  test("a 500 is an error naming the status", async () => {
    receiver.failNext(1, 500);
    expect(await send()).toMatchObject({ status: 500, error: "status 500", refused: false });
    // The script ran out: the next one is answered 200 again.
    expect(await send()).toMatchObject({ status: 200, error: null });
  });

  test.each([301, 302, 307, 308])("a %p redirect is not followed: its target receives nothing", async (status) => {
    receiver.redirectNext(other.url("/hooks/elsewhere"), 1, status);
    expect(await send()).toMatchObject({ status, error: `redirects are not followed (status ${status})`, refused: false });
    expect(receiver.hits).toBe(1);
    expect(other.hits).toBe(0);
  });

  test("a receiver that never answers is cut off at the timeout, and the connection is closed", async () => {
    receiver.hangNext();
    const result = await send({ timeoutMs: 300 });
    expect(result).toMatchObject({ status: null, error: "timed out after 300 ms", refused: false });
    expect(result.durationMs).toBeLessThan(10_000);
    expect(receiver.hung).toBe(1);
    await receiver.waitForReleased(1);
  });

  test("a receiver that trickles its answer is cut off at the timeout too", async () => {
    receiver.script({ kind: "trickle", status: 200, everyMs: 20 });
    const result = await send({ timeoutMs: 300 });
    expect(result.status).toBe(200);
    expect(result.error).toBe("timed out after 300 ms while reading the response (status 200)");
  });

  test("a huge answer is not read to the end", async () => {
    receiver.script({ kind: "status", status: 201, body: "x".repeat(4 * 1024 * 1024) });
    expect(await send({ timeoutMs: 10_000 })).toMatchObject({ status: 201, error: null });
  });

  test("a dropped connection is an error", async () => {
    receiver.dropNext();
    const result = await send();
    expect(result.status).toBeNull();
    expect(result.error).toContain("connection reset");
    expect(receiver.hits).toBe(1);
  });

  test("a receiver that is down refuses the connection; started again on its port, it receives", async () => {
    await receiver.stop();
    try {
      const result = await send();
      expect(result).toMatchObject({ status: null, refused: false });
      expect(result.error).toContain("connection refused");
    } finally {
      await receiver.start();
    }
    expect(await send()).toMatchObject({ status: 200, error: null });
    expect(receiver.hits).toBe(1);
  });

  test("an abort ends the attempt at once", async () => {
    receiver.hangNext();
    const controller = new AbortController();
    const pending = send({ signal: controller.signal, timeoutMs: 60_000 });
    await receiver.waitForDeliveries(1);
    controller.abort();
    expect(await pending).toMatchObject({ status: null, error: "aborted", refused: false });
    await receiver.waitForReleased(1);
  });

  test("an already aborted signal sends nothing", async () => {
    const controller = new AbortController();
    controller.abort();
    expect(await send({ signal: controller.signal })).toMatchObject({ status: null, error: "aborted" });
    expect(receiver.hits).toBe(0);
  });

  test("a DNS answer that never comes is cut off at the timeout; a failing one is an error", async () => {
    const slow = target("http://hooks.test/x", ["http://hooks.test/"]);
    const hanging = await sendOnce({ target: slow, body: BODY, headers: {}, timeoutMs: 200, lookup: () => new Promise<ResolvedAddress[]>(() => {}) });
    expect(hanging).toMatchObject({ status: null, error: "timed out after 200 ms", refused: false });
    const failing = await sendOnce({
      target: slow,
      body: BODY,
      headers: {},
      timeoutMs: 1_000,
      lookup: () => Promise.reject(Object.assign(new Error("getaddrinfo ENOTFOUND hooks.test"), { code: "ENOTFOUND" })),
    });
    expect(failing).toMatchObject({ status: null, error: "cannot resolve hooks.test: ENOTFOUND", refused: false });
    const empty = await sendOnce({ target: slow, body: BODY, headers: {}, timeoutMs: 1_000, lookup: fakeLookup([]).lookup });
    expect(empty).toMatchObject({ status: null, error: "hooks.test resolved to no address", refused: false });
  });

  test.skipIf(!existsProc())("no socket stays open after any outcome", async () => {
    const sockets = (): number =>
      readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:");
        } catch {
          return false;
        }
      }).length;
    await send();
    const before = sockets();
    for (let i = 0; i < 3; i++) {
      await send();
      receiver.failNext();
      await send();
      receiver.dropNext();
      await send();
      receiver.hangNext();
      await send({ timeoutMs: 100 });
      receiver.script({ kind: "trickle", everyMs: 10 });
      await send({ timeoutMs: 100 });
      receiver.redirectNext(other.url("/"));
      await send();
    }
    await waitFor(() => sockets() <= before, { what: `sockets back to ${before} (now ${sockets()})` });
  });
});

function existsProc(): boolean {
  try {
    readdirSync("/proc/self/fd");
    return true;
  } catch {
    return false;
  }
}

describe("destinations refused before any connection", () => {
  let wire: Tripwire;
  beforeAll(async () => {
    wire = await tripwire();
  });
  afterAll(() => wire.close());
  beforeEach(() => {
    wire.connections = 0;
  });

  test.each([
    [["10.0.0.5"], "hooks.test resolved to 10.0.0.5, a private address"],
    [["127.0.0.1", "10.0.0.5"], "hooks.test resolved to 127.0.0.1, a loopback address"],
    [["93.184.216.34", "10.0.0.5"], "hooks.test resolved to 10.0.0.5, a private address"],
    [["127.0.0.1"], "hooks.test resolved to 127.0.0.1, a loopback address"],
    [["::ffff:127.0.0.1"], "a loopback address"],
    [["169.254.169.254"], "link-local (cloud metadata)"],
    [["100.64.1.2"], "carrier-grade NAT"],
  ])("hooks.test resolving to %p is refused: %s", async (answer, reason) => {
    const fake = fakeLookup(answer);
    for (const port of [wire.port, receiver.port]) {
      const result = await sendOnce({ target: target(`http://hooks.test:${port}/x`, [`http://hooks.test:${port}/`]), body: BODY, headers: {}, timeoutMs: 5_000, lookup: fake.lookup });
      expect(result).toMatchObject({ status: null, refused: true });
      expect(result.error).toContain(reason);
    }
    expect(fake.asked).toEqual(["hooks.test", "hooks.test"]);
    expect(wire.connections).toBe(0);
    expect(receiver.hits).toBe(0);
  });

  test("the tripwire does see a connection that is allowed (so its zero above means something)", async () => {
    const fake = fakeLookup(["127.0.0.1"]);
    const result = await sendOnce({ target: target(`http://localhost:${wire.port}/x`, [`http://localhost:${wire.port}/`]), body: BODY, headers: {}, timeoutMs: 5_000, lookup: fake.lookup });
    expect(result.refused).toBe(false);
    expect(result.error).not.toBeNull();
    await waitFor(() => wire.connections === 1, { what: "the tripwire connection" });
  });

  test("anyAddress (the operator's own WEBHOOK_URL): an internal answer is connected to, still resolved once and pinned", async () => {
    const fake = fakeLookup(["127.0.0.1"], ["10.0.0.5"]);
    const t = target(`http://hooks.test:${receiver.port}/hooks/x`, [`http://hooks.test:${receiver.port}/`]);
    expect(await sendOnce({ target: t, anyAddress: true, body: BODY, headers: {}, timeoutMs: 5_000, lookup: fake.lookup })).toMatchObject({ status: 200, error: null, refused: false });
    expect([fake.asked, receiver.hits, wire.connections]).toEqual([["hooks.test"], 1, 0]);
    receiver.reset();
  });

  test("a target whose URL does not match its prefix is refused (it would borrow the prefix's literal exception)", async () => {
    const { prefix } = toReceiver();
    const result = await sendOnce({ target: { url: new URL(`http://127.0.0.2:${receiver.port}/hooks/x`), prefix }, body: BODY, headers: {}, timeoutMs: 5_000 });
    expect(result).toMatchObject({ status: null, refused: true });
    expect(receiver.hits).toBe(0);
  });
});

describe("the connection goes to the address that was checked", () => {
  test("an IP-literal host named by its prefix is delivered without asking DNS", async () => {
    const fake = fakeLookup(["10.0.0.5"]);
    expect(await send({ lookup: fake.lookup })).toMatchObject({ status: 200, error: null, refused: false });
    expect(fake.asked).toEqual([]);
    expect(receiver.hits).toBe(1);
  });

  // 127.0.0.2 is loopback on Linux without configuration; nothing listens on 127.0.0.1 at that port, so a delivery
  // arriving proves the connection used the address the lookup answered, not a resolution of its own.
  test.skipIf(process.platform !== "linux")("a hostname is resolved once and the request keeps its Host header", async () => {
    const pinnedTo = await startWebhookReceiver({ secret: SECRET, hostname: "127.0.0.2" });
    try {
      const fake = fakeLookup(["127.0.0.2"], ["10.0.0.5"]);
      const t = target(`http://localhost:${pinnedTo.port}/hooks/x`, [`http://localhost:${pinnedTo.port}/hooks/`]);
      const result = await sendOnce({ target: t, body: BODY, headers: { "X-Signature-256": signatureOf(SECRET, BODY) }, timeoutMs: 5_000, lookup: fake.lookup });
      expect(result).toMatchObject({ status: 200, error: null, refused: false });
      expect(fake.asked).toEqual(["localhost"]);
      const [d] = await pinnedTo.waitForDeliveries(1);
      expect(d?.headers.host).toBe(`localhost:${pinnedTo.port}`);
      expect(d?.signatureValid).toBe(true);
    } finally {
      await pinnedTo.stop();
    }
  });
});

describe("https with a self-signed certificate for localhost", () => {
  let tls: WebhookReceiver;
  let cert: string;
  beforeAll(async () => {
    const dir = tempDir("ocs-webhook-tls-");
    const [certFile, keyFile] = [path.join(dir, "cert.pem"), path.join(dir, "key.pem")];
    const made = Bun.spawnSync(
      ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout", keyFile, "-out", certFile],
      { stdout: "ignore", stderr: "pipe" },
    );
    if (made.exitCode !== 0) throw new Error(`openssl failed: ${made.stderr.toString()}`);
    cert = readFileSync(certFile, "utf8");
    tls = await startWebhookReceiver({ secret: SECRET, tls: { cert, key: readFileSync(keyFile, "utf8") } });
  });
  afterAll(() => tls.stop());
  beforeEach(() => tls.reset());

  const toLocalhost = (): WebhookTarget => target(`https://localhost:${tls.port}/hooks/x`, [`https://localhost:${tls.port}/hooks/`]);

  test("pinned to 127.0.0.1, the certificate is still checked against localhost (it names no IP) and the delivery arrives", async () => {
    const fake = fakeLookup(["127.0.0.1"]);
    const result = await sendOnce({ target: toLocalhost(), body: BODY, headers: { "X-Signature-256": signatureOf(SECRET, BODY) }, timeoutMs: 5_000, lookup: fake.lookup, ca: cert });
    expect(result).toMatchObject({ status: 200, error: null, refused: false });
    const [d] = await tls.waitForDeliveries(1);
    expect(d?.body).toBe(BODY);
    expect(d?.signatureValid).toBe(true);
  });

  test("without the CA the certificate is refused and no request is made", async () => {
    const result = await sendOnce({ target: toLocalhost(), body: BODY, headers: {}, timeoutMs: 5_000, lookup: fakeLookup(["127.0.0.1"]).lookup });
    expect(result.status).toBeNull();
    expect(result.error).toMatch(/certificate|self.signed/i);
    expect(tls.hits).toBe(0);
  });

  test("the same server by IP literal fails the host check: the certificate is checked against the URL's host", async () => {
    const t = target(`https://127.0.0.1:${tls.port}/hooks/x`, [`https://127.0.0.1:${tls.port}/hooks/`]);
    const result = await sendOnce({ target: t, body: BODY, headers: {}, timeoutMs: 5_000, ca: cert });
    expect(result.status).toBeNull();
    expect(result.error).toMatch(/altname|does not match/i);
    expect(tls.hits).toBe(0);
  });
});

describe("signatures", () => {
  test("GitHub's documented X-Hub-Signature-256 example", () => {
    expect(signatureOf("It's a Secret to Everybody", "Hello, World!")).toBe("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
  });

  test("verifySignature accepts only the exact signature", () => {
    const good = signatureOf(SECRET, BODY);
    expect(verifySignature(SECRET, BODY, good)).toBe(true);
    expect(verifySignature(SECRET, `${BODY} `, good)).toBe(false);
    expect(verifySignature("wrong-secret", BODY, good)).toBe(false);
    expect(verifySignature(SECRET, BODY, good.slice(0, -1))).toBe(false);
    expect(verifySignature(SECRET, BODY, `${good}0`)).toBe(false);
    expect(verifySignature(SECRET, BODY, good.slice("sha256=".length))).toBe(false);
    expect(verifySignature(SECRET, BODY, `sha1=${good.slice("sha256=".length)}`)).toBe(false);
    expect(verifySignature(SECRET, BODY, good.toUpperCase())).toBe(false);
    expect(verifySignature(SECRET, BODY, "")).toBe(false);
    expect(verifySignature(SECRET, BODY, null)).toBe(false);
    expect(verifySignature(SECRET, BODY, undefined)).toBe(false);
  });
});

describe("retry delays", () => {
  test("exponential from base, capped, half fixed and half random", () => {
    const at = (attempt: number, r: number): number => retryDelayMs(attempt, 1_000, 60_000, () => r);
    expect([at(1, 0), at(1, 0.5), at(1, 1)]).toEqual([500, 750, 1_000]);
    expect([at(2, 0), at(2, 1)]).toEqual([1_000, 2_000]);
    expect([at(3, 0), at(3, 1)]).toEqual([2_000, 4_000]);
    expect([at(7, 0), at(7, 1)]).toEqual([30_000, 60_000]);
    expect([at(10_000, 0), at(10_000, 1)]).toEqual([30_000, 60_000]);
    // Out-of-range input neither goes below attempt 1 nor outside [ceiling/2, ceiling].
    expect(at(0, 1)).toBe(1_000);
    expect(at(1, 7)).toBe(1_000);
    expect(at(1, -1)).toBe(500);
  });

  test("with Math.random every delay stays within its bounds", () => {
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = Math.min(30_000, 250 * 2 ** (attempt - 1));
      for (let i = 0; i < 50; i++) {
        const d = retryDelayMs(attempt, 250, 30_000);
        expect(d).toBeGreaterThanOrEqual(ceiling / 2);
        expect(d).toBeLessThanOrEqual(ceiling);
      }
    }
  });

  test("scheduleSummary is the worst-case total wait between maxAttempts attempts", () => {
    expect(scheduleSummary(1, 1_000, 60_000)).toBe(0);
    expect(scheduleSummary(5, 1_000, 60_000)).toBe(1_000 + 2_000 + 4_000 + 8_000);
    expect(scheduleSummary(10, 1_000, 5_000)).toBe(1_000 + 2_000 + 4_000 + 6 * 5_000);
  });
});
