// `bun run test`'s lanes: a file that drives the real opencode CLI runs in the agent lane, one at a time; every other file beside it.
import { expect, test } from "bun:test";
import { lanes, testFiles } from "../../scripts/test.ts";

test("files that import the fake LLM or the opencode environment are the agent lane; the rest are the other", () => {
  const sources: Record<string, string> = {
    "test/integration/a.test.ts": 'import { startFakeLlm } from "../support/fake-llm.ts";',
    "test/e2e/b.test.ts": 'import {\n  opencodeServerEnv,\n  fakeProviderConfig,\n} from "../support/opencode-env.ts";',
    "test/sandbox/c.test.ts": 'import { opencodeServerEnv } from "../../test/support/opencode-env";',
    "test/routes/d.test.ts": 'import { testApp } from "../support/app.ts";\n// mentions fake-llm in a comment only',
    "test/unit/e.test.ts": 'import { x } from "../../src/opencode/runner.ts";\nconst quoted = \'import { y } from "../support/fake-llm.ts";\';',
  };
  expect(lanes(Object.keys(sources), (f) => sources[f] as string)).toEqual({
    agent: ["test/integration/a.test.ts", "test/e2e/b.test.ts", "test/sandbox/c.test.ts"],
    other: ["test/routes/d.test.ts", "test/unit/e.test.ts"],
  });
});

test("the suite's own files: a real-opencode file is in the agent lane, route tests and this file in the other", () => {
  const { agent, other } = lanes(testFiles());
  // This file quotes such imports in its strings and is not one of them.
  expect(other).toContain("test/unit/test-lanes.test.ts");
  expect(agent).toContain("test/integration/opencode-run.test.ts");
  expect(other).toContain("test/routes/dashboard.test.ts");
});
