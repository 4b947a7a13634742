// Regenerates src/opencode/provider-catalogue.json (read by provider-env.ts) from the models catalogue bundled in the pinned opencode binary.
// Run after bumping opencode-ai: `bun scripts/gen-provider-env.ts`.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dir, "..");
const pkg = JSON.parse(readFileSync(path.join(root, "node_modules/opencode-ai/package.json"), "utf8")) as { version: string };
const binary = readFileSync(path.join(root, `node_modules/opencode-${process.platform}-${process.arch}/bin/opencode`)).toString("latin1");

// The catalogue is embedded as JS object literals: {id:"anthropic",env:["ANTHROPIC_API_KEY"],npm:"@ai-sdk/anthropic",api:"…",…}
const names = new Set<string>();
const providers = new Map<string, { env: string[]; npm: string | null; api: string | null }>();
for (const m of binary.matchAll(/id:"([a-z0-9._-]+)",env:\[([^\]]*)\](?:,npm:"([^"]+)")?(?:,api:"([^"]+)")?/g)) {
  const env = [...(m[2] ?? "").matchAll(/"([A-Z][A-Z0-9_]*)"/g)].map((n) => n[1] as string);
  for (const n of env) names.add(n);
  if (!providers.has(m[1] as string)) providers.set(m[1] as string, { env, npm: m[3] ?? null, api: m[4] ?? null });
}
if (names.size < 20 || providers.size < 20) throw new Error(`only ${names.size} provider variables, ${providers.size} providers found: the catalogue format changed`);

const list = [...names].sort();
const entries = [...providers.entries()].sort(([a], [b]) => a.localeCompare(b));
// One name or provider per line: an opencode upgrade then shows as a readable diff.
const block = (items: string[]) => items.map((item, i) => `    ${item}${i < items.length - 1 ? "," : ""}`).join("\n");
const body = `{
  "generatedBy": "scripts/gen-provider-env.ts: do not edit",
  "opencodeVersion": ${JSON.stringify(pkg.version)},
  "envVars": [
${block(list.map((n) => JSON.stringify(n)))}
  ],
  "providers": {
${block(entries.map(([id, p]) => `${JSON.stringify(id)}: ${JSON.stringify(p)}`))}
  }
}
`;
JSON.parse(body); // a formatting slip fails here, not at the server's start-up
writeFileSync(path.join(root, "src/opencode/provider-catalogue.json"), body);
console.log(`wrote ${list.length} provider variables and ${entries.length} providers from opencode-ai@${pkg.version}`);
