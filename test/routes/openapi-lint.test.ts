// `redocly lint` (its recommended rules, offline) passes on the generated OpenAPI document with no errors and no warnings.
import { expect, test } from "bun:test";
import path from "node:path";
import { testApp } from "../support/app.ts";
import { tempDir } from "../support/temp.ts";

const CLI = path.resolve(import.meta.dir, "../../node_modules/@redocly/cli/bin/cli.js");

interface LintReport {
  totals: { errors: number; warnings: number; ignored: number };
  problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
}

test("redocly lint --format=json reports 0 errors and 0 warnings on /swagger/json", async () => {
  const res = await testApp().request("/swagger/json");
  expect(res.status).toBe(200);
  // A fresh directory: no redocly.yaml is picked up, so the built-in recommended ruleset applies.
  const dir = tempDir("ocs-redocly-");
  await Bun.write(path.join(dir, "openapi.json"), await res.text());
  const proc = Bun.spawn([process.execPath, CLI, "lint", "--format=json", "openapi.json"], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true", NO_COLOR: "1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  let report: LintReport;
  try {
    report = JSON.parse(stdout) as LintReport;
  } catch {
    throw new Error(`redocly printed no JSON report (exit ${code}):\n${stdout}\n${stderr}`);
  }
  const problems = report.problems.map((p) => `${p.severity} ${p.ruleId} at ${p.location.map((l) => l.pointer).join(", ")}: ${p.message}`);
  expect(problems).toEqual([]);
  expect(report.totals).toEqual({ errors: 0, warnings: 0, ignored: 0 });
  expect(code).toBe(0);
});
