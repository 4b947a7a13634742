// Bundles the dashboard's browser code (web/) with Bun's own bundler — imported as a macro, so it runs when the server's code is transpiled.
//
// A macro runs at `bun build --compile` time (the binary embeds the result, no web/ at run time) and each
// time the source is run (`bun src/main.ts`, `bun test`), so there is no generated file to forget to rebuild.
// Bun.build cannot run inside a macro (the bundler waits for it), hence the CLI. --production: minified, and JSX
// compiled for production (no per-element source locations).
import path from "node:path";

const WEB = path.resolve(import.meta.dir, "../../../web");

function bunBuild(entry: string, flags: string[]): string {
  const result = Bun.spawnSync([process.execPath, "build", path.join(WEB, entry), "--production", ...flags], { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`bundling web/${entry} failed:\n${result.stderr.toString()}${result.stdout.toString()}`);
  return result.stdout.toString();
}

/** The dashboard's script: web/main.tsx and what it imports (Preact), one ES module. */
export function dashboardScript(): string {
  return bunBuild("main.tsx", ["--target=browser", "--format=esm", "--tsconfig-override", path.join(WEB, "tsconfig.json")]);
}

/** The dashboard's stylesheet, minified. */
export function dashboardStyles(): string {
  return bunBuild("style.css", []);
}
