// deploy/kubernetes, checked offline: each kustomization is rendered with `kubectl kustomize`, every object
// is validated against the Kubernetes schemas (kubernetes-models for types and required fields, plus a
// strict check for unknown fields built from the same package's type declarations, since its validators
// accept any extra key), and the properties the deployment relies on are asserted one by one.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { StatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ENV_DOCS } from "../../src/config-env-docs.ts";
import { EnvSchema } from "../../src/config-schema.ts";
import { parseDuration } from "../../src/lib/duration.ts";
import { PROVIDER_ENV_VARS } from "../../src/opencode/provider-env.ts";

// Rendered YAML is untyped data: the schema checks below are what give it a shape.
type Obj = Record<string, any>;

const ROOT = path.resolve(import.meta.dir, "../..");
const K8S = path.join(ROOT, "deploy/kubernetes");
const KUSTOMIZATIONS = ["base", "overlays/dev-postgres", "overlays/landlock", "node-setup"] as const;
type Kustomization = (typeof KUSTOMIZATIONS)[number];
const APP = "opencode-server";
/** README, "Capacity": each opencode process needs about 630 MB; and about one core. */
const RUN_MEMORY_BYTES = 630e6;
const RUN_CPU_CORES = 1;

// ---------------------------------------------------------------------------------------------------------
// kubectl kustomize

const KUBECTL = ((p) => (p && existsSync(p) ? p : null))(process.env.KUBECTL || Bun.which("kubectl"));
const NO_KUBECTL =
  "kubectl not found: these tests render deploy/kubernetes with `kubectl kustomize` and cannot run without it. " +
  "Install it (Debian 12: `apt-get install -y kubernetes-client`, kubectl 1.20 with kustomize v2) or set KUBECTL=/path/to/kubectl.";

const rendered = new Map<Kustomization, Obj[]>();

function render(dir: Kustomization): Obj[] {
  const cached = rendered.get(dir);
  if (cached) return cached;
  if (!KUBECTL) throw new Error(NO_KUBECTL);
  // stderr is kept, not printed: kustomize v5 warns there about the v2-compatible `bases`/`patchesStrategicMerge`.
  const r = Bun.spawnSync([KUBECTL, "kustomize", path.join(K8S, dir)], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`kubectl kustomize ${dir} failed (exit ${r.exitCode}): ${r.stderr.toString()}`);
  const objects = parseYamlDocuments(r.stdout.toString());
  rendered.set(dir, objects);
  return objects;
}

function parseYamlDocuments(text: string): Obj[] {
  const parsed: unknown = Bun.YAML.parse(text);
  // One document parses to itself, several to an array of them (null for an empty one).
  const docs = Array.isArray(parsed) ? parsed : [parsed];
  return docs.filter((d): d is Obj => d !== null && typeof d === "object" && !Array.isArray(d));
}

function find(objects: Obj[], kind: string, name?: string): Obj {
  const hits = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (hits.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${hits.length}`);
  return hits[0] as Obj;
}

/** A generated ConfigMap/Secret: its name is `name-<hash>`, as every reference to it in the render. */
function findGenerated(objects: Obj[], kind: string, name: string): Obj {
  const hits = objects.filter((o) => o.kind === kind && new RegExp(`^${name}(-[a-z0-9]{10})?$`).test(o.metadata?.name ?? ""));
  if (hits.length !== 1) throw new Error(`expected one generated ${kind} ${name}, found ${hits.length}`);
  return hits[0] as Obj;
}

function appDeployment(objects: Obj[]): Obj {
  return find(objects, "Deployment", APP);
}

function appContainer(deployment: Obj): Obj {
  const c = (deployment.spec.template.spec.containers as Obj[]).find((x) => x.name === APP);
  if (!c) throw new Error(`no container ${APP}`);
  return c;
}

/** The environment the app container gets: literal values, ConfigMap/Secret keys (by source), fieldRefs. */
function appEnvironment(objects: Obj[]): { literal: Record<string, string>; names: string[]; valueFrom: Record<string, Obj> } {
  const c = appContainer(appDeployment(objects));
  const literal: Record<string, string> = {};
  const names: string[] = [];
  const valueFrom: Record<string, Obj> = {};
  for (const src of (c.envFrom ?? []) as Obj[]) {
    if (src.configMapRef) {
      const cm = find(objects, "ConfigMap", src.configMapRef.name);
      for (const [k, v] of Object.entries(cm.data ?? {})) {
        literal[k] = String(v);
        names.push(k);
      }
    }
    // The operator's Secret is not in the render: its keys are checked in secret.example.yaml.
  }
  for (const e of (c.env ?? []) as Obj[]) {
    names.push(e.name);
    if (e.valueFrom) {
      delete literal[e.name];
      valueFrom[e.name] = e.valueFrom;
    } else literal[e.name] = String(e.value ?? "");
  }
  return { literal, names, valueFrom };
}

function secretValue(secret: Obj, key: string): string {
  if (secret.stringData?.[key] !== undefined) return String(secret.stringData[key]);
  const b64 = secret.data?.[key];
  if (b64 === undefined) throw new Error(`secret ${secret.metadata?.name} has no key ${key}`);
  return Buffer.from(String(b64).replace(/\s+/g, ""), "base64").toString("utf8");
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Kubernetes quantities: CPU in cores, memory in bytes. */
function quantity(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(q));
  if (!m) throw new Error(`not a quantity: ${q}`);
  const unit: Record<string, number> = { "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };
  return Number(m[1]) * (unit[m[2] ?? ""] as number);
}

/** The preStop hook's delay in seconds: the `sleep` action, or an exec of sleep N. */
function preStopSeconds(container: Obj): number {
  const hook = container.lifecycle?.preStop;
  if (!hook) return 0;
  if (hook.sleep) return Number(hook.sleep.seconds);
  const cmd = (hook.exec?.command ?? []) as string[];
  const m = /^(?:\/usr)?(?:\/bin\/)?sleep$/.test(cmd[0] ?? "") ? /^(\d+)$/.exec(cmd[1] ?? "") : null;
  if (!m) throw new Error(`preStop is neither a sleep action nor "sleep N": ${JSON.stringify(hook)}`);
  return Number(m[1]);
}

// ---------------------------------------------------------------------------------------------------------
// Schema checks: kubernetes-models' validators (types, enums, required fields), and unknown fields from its
// .d.ts interfaces (the generator writes one interface per OpenAPI definition, one `"field"?: Type;` per
// property). Anything in those files this parser does not understand throws, so a package upgrade that
// changes their shape fails loudly instead of checking less.

const MODELS: Record<string, { new (data: never): { validate(): void } }> = {
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/Service": Service,
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "apps/v1/DaemonSet": DaemonSet,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
};

type TypeNode =
  | { kind: "leaf" }
  | { kind: "free" }
  | { kind: "array"; of: TypeNode }
  | { kind: "map"; of: TypeNode }
  | { kind: "object"; name: string; fields: Map<string, TypeNode> };

interface Dts {
  file: string;
  imports: Map<string, string>;
  aliases: Map<string, string>;
  interfaces: Map<string, string>;
  types: Map<string, string>;
}

const dtsCache = new Map<string, Dts>();
const objectCache = new Map<string, TypeNode>();

function dtsOf(jsPath: string): Dts {
  const file = jsPath.replace(/\.js$/, ".d.ts");
  const cached = dtsCache.get(file);
  if (cached) return cached;
  const src = readFileSync(file, "utf8").replace(/\/\*\*[\s\S]*?\*\//g, "");
  const dts: Dts = { file, imports: new Map(), aliases: new Map(), interfaces: new Map(), types: new Map() };
  for (const m of src.matchAll(/^import \{ ([^}]+) \} from "([^"]+)";$/gm)) {
    const spec = m[2] as string;
    const target = spec.startsWith(".") ? path.resolve(path.dirname(file), spec) : Bun.resolveSync(spec, path.dirname(file));
    for (const name of (m[1] as string).split(",").map((n) => n.trim())) dts.imports.set(name, target);
  }
  for (const m of src.matchAll(/^export type \{ ([^}]+) \};$/gm)) {
    for (const entry of (m[1] as string).split(",")) {
      const [local, alias] = entry.split(" as ").map((s) => s.trim());
      if (local && alias) dts.aliases.set(alias, local);
    }
  }
  for (const m of src.matchAll(/^export interface (\w+)(?: extends [^{]+)? \{\n?([\s\S]*?)^\}/gm)) dts.interfaces.set(m[1] as string, m[2] as string);
  for (const m of src.matchAll(/^export type (\w+) = ([^;]+);$/gm)) dts.types.set(m[1] as string, m[2] as string);
  dtsCache.set(file, dts);
  return dts;
}

/** Splits `"a"?: T; "b": U;` at the semicolons that are not inside {}, <> or a string. */
function members(body: string): { name: string; type: string }[] {
  const out: { name: string; type: string }[] = [];
  let depth = 0;
  let quoted = false;
  let cur = "";
  for (const ch of body) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && (ch === "{" || ch === "<")) depth++;
    if (!quoted && (ch === "}" || ch === ">")) depth--;
    if (!quoted && depth === 0 && ch === ";") {
      out.push(member(cur));
      cur = "";
    } else cur += ch;
  }
  if (cur.trim() !== "") throw new Error(`unparsed interface text: ${cur.trim().slice(0, 80)}`);
  return out;
}

function member(text: string): { name: string; type: string } {
  const m = /^\s*"([^"]+)"\??:\s*([\s\S]+?)\s*$/.exec(text);
  if (!m) throw new Error(`unparsed interface member: ${text.trim().slice(0, 80)}`);
  return { name: m[1] as string, type: m[2] as string };
}

function objectNode(dts: Dts, name: string, body: string): TypeNode {
  const key = `${dts.file}#${name}`;
  const cached = objectCache.get(key);
  if (cached) return cached;
  if (body.trim() === "") {
    // RawExtension, JSON, FieldsV1, …: free-form by definition.
    const free: TypeNode = { kind: "free" };
    objectCache.set(key, free);
    return free;
  }
  const node: TypeNode = { kind: "object", name, fields: new Map() };
  objectCache.set(key, node); // before the fields: definitions refer to themselves (JSONSchemaProps)
  for (const f of members(body)) node.fields.set(f.name, parseType(f.type, dts));
  return node;
}

function parseType(text: string, dts: Dts): TypeNode {
  const t = text.replace(/\s+/g, " ").trim();
  const array = /^Array<(.+)>$/.exec(t);
  if (array) return { kind: "array", of: parseType(array[1] as string, dts) };
  if (t.startsWith("{") && t.endsWith("}")) {
    const map = /^\{ \[key: string\]: (.+?);? \}$/.exec(t);
    if (map) return { kind: "map", of: parseType(map[1] as string, dts) };
    return objectNode(dts, `inline in ${path.basename(dts.file)}`, t.slice(1, -1));
  }
  if (/^I\w+$/.test(t)) return resolveRef(t, dts);
  if (/^(?:"[^"]*"|string|number|boolean|null)(?: \| (?:"[^"]*"|string|number|boolean|null))*$/.test(t)) return { kind: "leaf" };
  throw new Error(`unrecognised type "${t}" in ${dts.file}`);
}

function resolveRef(name: string, from: Dts): TypeNode {
  const target = from.imports.has(name) ? dtsOf(from.imports.get(name) as string) : from;
  const local = target.aliases.get(name) ?? name;
  const body = target.interfaces.get(local);
  if (body !== undefined) return objectNode(target, local, body);
  const alias = target.types.get(local);
  if (alias !== undefined) return parseType(alias, target);
  throw new Error(`cannot resolve type ${name} (from ${from.file})`);
}

function topLevelNode(apiVersion: string, kind: string): TypeNode {
  const js = Bun.resolveSync(`kubernetes-models/${apiVersion}/${kind}`, import.meta.dir);
  return resolveRef(`I${kind}`, dtsOf(js));
}

function unknownFields(value: unknown, node: TypeNode, at: string, out: string[]): void {
  if (value === null || value === undefined) return;
  if (node.kind === "array" && Array.isArray(value)) value.forEach((v, i) => unknownFields(v, node.of, `${at}[${i}]`, out));
  else if (node.kind === "map" && typeof value === "object") for (const [k, v] of Object.entries(value)) unknownFields(v, node.of, `${at}.${k}`, out);
  else if (node.kind === "object" && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      const field = node.fields.get(k);
      if (field) unknownFields(v, field, `${at}.${k}`, out);
      else out.push(`${at}.${k}: unknown field (${node.name} has ${[...node.fields.keys()].join(", ")})`);
    }
  }
}

/** Every problem the Kubernetes schemas find in one object; [] when it is valid. */
function schemaProblems(obj: Obj): string[] {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const Model = MODELS[key];
  if (!Model) return [`${key}: no schema registered in this test (add its kubernetes-models class to MODELS)`];
  const problems: string[] = [];
  const copy = structuredClone(obj);
  // kustomize v5 wraps long base64 values over lines; the API server's decoder (Go's) skips the line breaks.
  if (obj.kind === "Secret" && copy.data) for (const k of Object.keys(copy.data)) copy.data[k] = String(copy.data[k]).replace(/[\r\n]/g, "");
  try {
    // Parsed YAML handed to the validator, which is what checks its shape.
    new Model(copy as never).validate();
  } catch (err) {
    problems.push(`${key} ${obj.metadata?.name}: ${(err as Error).message}`);
  }
  unknownFields(obj, topLevelNode(obj.apiVersion, obj.kind), `${obj.kind}/${obj.metadata?.name}`, problems);
  return problems;
}

// ---------------------------------------------------------------------------------------------------------

describe("tooling", () => {
  test("kubectl is installed (kubectl kustomize renders the manifests)", () => {
    if (!KUBECTL) throw new Error(NO_KUBECTL);
  });
});

describe("the schema checker", () => {
  const deployment = () => structuredClone(appDeployment(render("base")));

  test("accepts the rendered Deployment", () => {
    expect(schemaProblems(deployment())).toEqual([]);
  });

  test("rejects a misspelled field at the top and deep inside, which kubernetes-models alone accepts", () => {
    const d = deployment();
    d.spec.replicaz = d.spec.replicas;
    delete d.spec.replicas;
    d.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystm = true;
    d.spec.template.spec.containers[0].env[0].valueFrm = {};
    expect(() => new Deployment(structuredClone(d)).validate()).not.toThrow();
    const problems = schemaProblems(d);
    expect(problems.some((p) => p.startsWith("Deployment/opencode-server.spec.replicaz: unknown field"))).toBe(true);
    expect(problems.some((p) => p.includes(".containers[0].securityContext.readOnlyRootFilesystm: unknown field"))).toBe(true);
    expect(problems.some((p) => p.includes(".containers[0].env[0].valueFrm: unknown field"))).toBe(true);
    expect(problems).toHaveLength(3);
  });

  test("rejects a wrong type (port: \"80\") and a missing required field", () => {
    const svc = structuredClone(find(render("base"), "Service", APP));
    svc.spec.ports[0].port = "80";
    expect(schemaProblems(svc).join("\n")).toContain("/spec/ports/0/port must be integer");
    const d = deployment();
    delete d.spec.template.spec.containers[0].name;
    expect(schemaProblems(d).join("\n")).toContain("spec/template/spec/containers/0 must have required property name");
  });

  test("does not flag free keys of maps (labels, ConfigMap data)", () => {
    const d = deployment();
    d.metadata.labels["example.com/anything"] = "x";
    expect(schemaProblems(d)).toEqual([]);
  });
});

describe.each(KUSTOMIZATIONS)("kubectl kustomize %s", (dir) => {
  test("renders, and every object is valid against the Kubernetes schemas with no unknown field", () => {
    const objects = render(dir);
    expect(objects.length).toBeGreaterThan(0);
    expect(objects.flatMap(schemaProblems)).toEqual([]);
  });
});

describe.each(["base", "overlays/dev-postgres", "overlays/landlock"] as const)("the app in %s", (dir) => {
  const objects = () => render(dir);
  const deployment = () => appDeployment(objects());
  const podSpec = () => deployment().spec.template.spec as Obj;
  const podLabels = () => deployment().spec.template.metadata.labels as Record<string, string>;

  test("runs at least two replicas of the image, selecting its own pods", () => {
    const d = deployment();
    expect(d.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(matches(d.spec.selector.matchLabels, podLabels())).toBe(true);
    const c = appContainer(d);
    expect(c.image).toBe("opencode-server:latest");
    expect(c.imagePullPolicy).toBe("IfNotPresent");
    expect(c.ports).toEqual([{ name: "http", containerPort: 8080, protocol: "TCP" }]);
    expect(appEnvironment(objects()).literal.PORT).toBe("8080");
  });

  test("probes GET /health on the http port; readiness drops a draining pod (503) within 10 s", () => {
    const c = appContainer(deployment());
    for (const probe of ["readinessProbe", "livenessProbe", "startupProbe"]) {
      expect(c[probe]?.httpGet).toEqual({ path: "/health", port: "http" });
    }
    expect(c.readinessProbe.periodSeconds * c.readinessProbe.failureThreshold).toBeLessThanOrEqual(10);
    // Liveness gives a degraded store a minute before restarting the pod.
    expect(c.livenessProbe.periodSeconds * c.livenessProbe.failureThreshold).toBeGreaterThanOrEqual(60);
  });

  test("terminationGracePeriodSeconds exceeds the preStop sleep plus SHUTDOWN_TIMEOUT", () => {
    const c = appContainer(deployment());
    const shutdown = appEnvironment(objects()).literal.SHUTDOWN_TIMEOUT;
    if (shutdown === undefined) throw new Error("SHUTDOWN_TIMEOUT is not set: the grace period cannot be checked against it");
    const shutdownSeconds = (parseDuration(shutdown) as number) / 1000;
    const preStop = preStopSeconds(c);
    expect(preStop).toBeGreaterThanOrEqual(3);
    expect(podSpec().terminationGracePeriodSeconds).toBeGreaterThan(preStop + shutdownSeconds);
    // The image has a shell and coreutils (Debian): an exec of /bin/sleep works.
    expect(readFileSync(path.join(ROOT, "Dockerfile"), "utf8")).toMatch(/^FROM debian:/m);
  });

  test("a restricted security context, as the image's own user", () => {
    const uid = Number(/--uid (\d+)/.exec(readFileSync(path.join(ROOT, "Dockerfile"), "utf8"))?.[1]);
    expect(uid).toBeGreaterThan(0);
    const pod = podSpec().securityContext ?? {};
    const c = appContainer(deployment()).securityContext ?? {};
    const effective = (field: string) => c[field] ?? pod[field];
    expect(effective("runAsNonRoot")).toBe(true);
    expect(effective("runAsUser")).toBe(uid);
    expect(c.allowPrivilegeEscalation).toBe(false);
    expect(c.privileged ?? false).toBe(false);
    expect(c.readOnlyRootFilesystem).toBe(true);
    expect(c.capabilities?.drop).toEqual(["ALL"]);
    expect(c.capabilities?.add ?? []).toEqual([]);
    expect(podSpec().automountServiceAccountToken).toBe(false);
    expect(podSpec().enableServiceLinks).toBe(false);
  });

  test("sets only variables the server reads, with values its config schema accepts", () => {
    const env = appEnvironment(objects());
    const known = new Set([...ENV_DOCS.map((d) => d.name), ...PROVIDER_ENV_VARS]);
    expect(env.names.filter((n) => !known.has(n))).toEqual([]);
    // REPLICA_ID is the pod name: a real Deployment pod name must pass its check.
    expect(env.valueFrom.REPLICA_ID).toEqual({ fieldRef: { fieldPath: "metadata.name" } });
    const sample = { ...env.literal, REPLICA_ID: "opencode-server-7d9f8b6c5d-x2x4k" };
    const parsed = EnvSchema.safeParse(sample);
    expect(parsed.success ? [] : parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`)).toEqual([]);
  });

  test("MAX_CONCURRENT_RUNS fits the resources: ~630 MB and ~1 core per run", () => {
    const runs = Number(appEnvironment(objects()).literal.MAX_CONCURRENT_RUNS);
    expect(runs).toBe(2);
    const { requests, limits } = appContainer(deployment()).resources;
    expect(quantity(requests.cpu)).toBeGreaterThanOrEqual(runs * RUN_CPU_CORES);
    expect(quantity(requests.memory)).toBeGreaterThanOrEqual(runs * RUN_MEMORY_BYTES);
    expect(quantity(limits.memory)).toBeGreaterThan(quantity(requests.memory));
    expect(quantity(limits.cpu)).toBeGreaterThanOrEqual(quantity(requests.cpu));
  });

  test("every writable path (WORK_DIR, DATA_DIR, /tmp, HOME) is a size-limited emptyDir", () => {
    const env = appEnvironment(objects()).literal;
    const volumes = new Map<string, Obj>((podSpec().volumes as Obj[]).map((v) => [v.name, v]));
    const mounts = new Map<string, Obj>(
      (appContainer(deployment()).volumeMounts as Obj[]).map((m) => [m.mountPath, volumes.get(m.name) as Obj]),
    );
    for (const p of [env.WORK_DIR, env.DATA_DIR, "/tmp", "/home/opencode"]) {
      expect(p).toBeDefined();
      const v = mounts.get(p as string);
      expect(v?.emptyDir).toBeDefined();
      expect(quantity(v?.emptyDir?.sizeLimit ?? "0")).toBeGreaterThan(0);
    }
    // Nothing else is mounted: the root filesystem is read-only and these are the only writable places.
    expect([...mounts.values()].every((v) => v.emptyDir)).toBe(true);
    // The mirror cache fits its volume.
    const data = mounts.get(env.DATA_DIR as string) as Obj;
    expect(quantity(env.CACHE_MAX_BYTES as string)).toBeLessThan(quantity(data.emptyDir.sizeLimit));
  });

  test("the Service (ClusterIP, 80 → http) and the PodDisruptionBudget select the app's pods", () => {
    const svc = find(objects(), "Service", APP);
    expect(svc.spec.type).toBe("ClusterIP");
    expect(matches(svc.spec.selector, podLabels())).toBe(true);
    expect(svc.spec.ports).toEqual([{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }]);
    const pdb = find(objects(), "PodDisruptionBudget", APP);
    expect(matches(pdb.spec.selector.matchLabels, podLabels())).toBe(true);
    const allowed = pdb.spec.maxUnavailable ?? deployment().spec.replicas - pdb.spec.minAvailable;
    expect(allowed).toBe(1);
  });

  test("the NetworkPolicy: ingress on the http port only; egress to DNS, HTTPS and Postgres only", () => {
    const np = find(objects(), "NetworkPolicy", APP);
    expect(matches(np.spec.podSelector.matchLabels, podLabels())).toBe(true);
    expect(np.spec.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(np.spec.ingress).toEqual([{ ports: [{ protocol: "TCP", port: 8080 }] }]);
    const egress = np.spec.egress as Obj[];
    const ports = (rule: Obj) => (rule.ports as Obj[]).map((p) => `${p.protocol}/${p.port}`).sort();
    expect(egress.length).toBeGreaterThan(0);
    // Every rule names its destinations and ports: nothing is open to "anywhere".
    for (const rule of egress) {
      expect(rule.to?.length).toBeGreaterThan(0);
      expect(rule.ports?.length).toBeGreaterThan(0);
    }
    const dns = egress.find((r) => r.to.some((p: Obj) => p.podSelector?.matchLabels?.["k8s-app"] === "kube-dns"));
    expect(dns && ports(dns)).toEqual(["TCP/53", "UDP/53"]);
    const https = egress.filter((r) => r.to.every((p: Obj) => p.ipBlock) && ports(r).join() === "TCP/443");
    expect(https.length).toBeGreaterThanOrEqual(2); // the model provider and the git host
    expect(egress.some((r) => ports(r).join() === "TCP/5432")).toBe(true);
    const opened = new Set(egress.flatMap(ports));
    expect([...opened].sort()).toEqual(["TCP/443", "TCP/53", "TCP/5432", "UDP/53"]);
  });
});

describe("bubblewrap on Kubernetes (base, dev-postgres)", () => {
  const PROFILE = "profiles/opencode-server-bwrap.json";

  test.each(["base", "overlays/dev-postgres"] as const)("%s: seccomp Localhost profile, user namespace, unmasked /proc", (dir) => {
    const d = appDeployment(render(dir));
    const pod = d.spec.template.spec as Obj;
    const c = appContainer(d);
    const seccomp = c.securityContext?.seccompProfile ?? pod.securityContext?.seccompProfile;
    expect(seccomp).toEqual({ type: "Localhost", localhostProfile: PROFILE });
    // The API server accepts procMount: Unmasked only for a pod in its own user namespace.
    expect(pod.hostUsers).toBe(false);
    expect(c.securityContext.procMount).toBe("Unmasked");
    expect(appEnvironment(render(dir)).literal.SANDBOX).toBe("auto");
  });

  test("node-setup installs exactly deploy/docker/seccomp-bwrap.json where the pods look for it", () => {
    const objects = render("node-setup");
    const ds = find(objects, "DaemonSet", "opencode-server-seccomp");
    const pod = ds.spec.template.spec as Obj;
    const hostDir = (pod.volumes as Obj[]).find((v) => v.hostPath)?.hostPath;
    expect(hostDir).toEqual({ path: "/var/lib/kubelet/seccomp", type: "DirectoryOrCreate" });
    const script = (pod.initContainers[0].command as string[]).join(" ");
    expect(script).toContain(`/host/seccomp/${PROFILE}`);
    expect(pod.initContainers[0].volumeMounts).toContainEqual({ name: "kubelet-seccomp", mountPath: "/host/seccomp" });
    const cm = findGenerated(objects, "ConfigMap", "opencode-server-seccomp");
    const shipped = readFileSync(path.join(ROOT, "deploy/docker/seccomp-bwrap.json"), "utf8");
    expect(cm.data["opencode-server-bwrap.json"]).toBe(shipped);
    expect(readFileSync(path.join(K8S, "node-setup/opencode-server-bwrap.json"), "utf8")).toBe(shipped);
    // What bubblewrap needs is in it (platform notes: clone, unshare, mount, umount2, pivot_root, setns).
    const allowed = new Set((JSON.parse(shipped).syscalls as Obj[]).filter((s) => s.action === "SCMP_ACT_ALLOW").flatMap((s) => s.names));
    for (const call of ["clone", "clone3", "unshare", "mount", "umount2", "pivot_root", "setns", "landlock_restrict_self"]) {
      expect(allowed.has(call)).toBe(true);
    }
  });
});

describe("the operator's Secret (base/secret.example.yaml)", () => {
  const example = () => parseYamlDocuments(readFileSync(path.join(K8S, "base/secret.example.yaml"), "utf8"));

  test("is not rendered: operators create their own", () => {
    const kustomization = Bun.YAML.parse(readFileSync(path.join(K8S, "base/kustomization.yaml"), "utf8")) as Obj;
    expect(kustomization.resources).not.toContain("secret.example.yaml");
    expect(render("base").filter((o) => o.kind === "Secret")).toEqual([]);
  });

  test("is a valid Secret named as the Deployment's secretRef, holding only server variables", () => {
    const docs = example();
    expect(docs).toHaveLength(1);
    const secret = docs[0] as Obj;
    expect(schemaProblems(secret)).toEqual([]);
    const refs = (appContainer(appDeployment(render("base"))).envFrom as Obj[]).filter((e) => e.secretRef).map((e) => e.secretRef.name);
    expect(refs).toEqual([secret.metadata.name]);
    const known = new Set([...ENV_DOCS.map((d) => d.name), ...PROVIDER_ENV_VARS]);
    const keys = Object.keys(secret.stringData);
    expect(keys.filter((k) => !known.has(k))).toEqual([]);
    for (const k of ["API_KEY", "DATABASE_URL"]) expect(keys).toContain(k);
    const parsed = EnvSchema.safeParse(secret.stringData);
    expect(parsed.success ? [] : parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`)).toEqual([]);
    expect(secret.stringData.DATABASE_URL).toMatch(/[?&]sslmode=(require|verify-full)/);
  });
});

describe("overlays/dev-postgres", () => {
  const objects = () => render("overlays/dev-postgres");

  test("adds one postgres:15 and a Service for it", () => {
    const sts = find(objects(), "StatefulSet", "opencode-postgres");
    expect(sts.spec.replicas).toBe(1);
    const pg = sts.spec.template.spec.containers[0];
    expect(pg.image).toBe("postgres:15");
    const svc = find(objects(), "Service", "opencode-postgres");
    expect(matches(svc.spec.selector, sts.spec.template.metadata.labels)).toBe(true);
    expect(svc.spec.ports.map((p: Obj) => p.port)).toEqual([5432]);
  });

  test("points the app's DATABASE_URL at that Service, with the credentials Postgres starts with", () => {
    const ref = appEnvironment(objects()).valueFrom.DATABASE_URL?.secretKeyRef;
    expect(ref?.key).toBe("DATABASE_URL");
    const url = new URL(secretValue(find(objects(), "Secret", ref.name), "DATABASE_URL"));
    expect(url.protocol).toBe("postgres:");
    expect(url.hostname).toBe("opencode-postgres");
    expect(url.port).toBe("5432");
    const sts = find(objects(), "StatefulSet", "opencode-postgres");
    const pgSecret = find(objects(), "Secret", sts.spec.template.spec.containers[0].envFrom[0].secretRef.name);
    expect(decodeURIComponent(url.username)).toBe(secretValue(pgSecret, "POSTGRES_USER"));
    expect(decodeURIComponent(url.password)).toBe(secretValue(pgSecret, "POSTGRES_PASSWORD"));
    expect(url.pathname).toBe(`/${secretValue(pgSecret, "POSTGRES_DB")}`);
    expect(EnvSchema.safeParse({ DATABASE_URL: url.href }).success).toBe(true);
  });

  test("lets the app (and only the app) reach Postgres on 5432", () => {
    const sts = find(objects(), "StatefulSet", "opencode-postgres");
    const pgLabels = sts.spec.template.metadata.labels;
    const appLabels = appDeployment(objects()).spec.template.metadata.labels;
    const egress = objects().filter(
      (o) => o.kind === "NetworkPolicy" && matches(o.spec.podSelector.matchLabels, appLabels) && o.spec.policyTypes.includes("Egress"),
    );
    const toPostgres = egress.flatMap((np) => np.spec.egress as Obj[]).filter((r) => r.to?.some((p: Obj) => p.podSelector && matches(p.podSelector.matchLabels, pgLabels)));
    expect(toPostgres.flatMap((r) => r.ports)).toEqual([{ protocol: "TCP", port: 5432 }]);
    const ingress = find(objects(), "NetworkPolicy", "opencode-postgres");
    expect(matches(ingress.spec.podSelector.matchLabels, pgLabels)).toBe(true);
    expect(ingress.spec.ingress).toEqual([{ from: [{ podSelector: { matchLabels: appLabels } }], ports: [{ protocol: "TCP", port: 5432 }] }]);
  });
});

describe("overlays/landlock", () => {
  test("needs no node setup nor user namespaces, and refuses to run unsandboxed", () => {
    const d = appDeployment(render("overlays/landlock"));
    const pod = d.spec.template.spec as Obj;
    const c = appContainer(d);
    expect(pod.securityContext.seccompProfile).toEqual({ type: "RuntimeDefault" });
    expect(c.securityContext.seccompProfile).toBeUndefined();
    expect(pod.hostUsers).toBeUndefined();
    expect(c.securityContext.procMount).toBeUndefined();
    expect(appEnvironment(render("overlays/landlock")).literal.SANDBOX).toBe("landlock");
  });
});
