// An AgentRunner that scripts outcomes in-process, for route and lifecycle tests.
import { emptyUsage, type AgentEvent, type AgentInput, type AgentOutcome, type AgentRunner } from "../../src/opencode/types.ts";

export type FakeBehaviour = (input: AgentInput) => Promise<Partial<AgentOutcome>> | Partial<AgentOutcome>;

export class FakeRunner implements AgentRunner {
  readonly calls: AgentInput[] = [];
  private started: (() => void)[] = [];

  constructor(private behaviour: FakeBehaviour = () => ({ output: "fake output" })) {}

  setBehaviour(behaviour: FakeBehaviour): void {
    this.behaviour = behaviour;
  }

  /** Resolves once the runner has been called `count` times in total. */
  waitForCalls(count: number): Promise<void> {
    if (this.calls.length >= count) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (this.calls.length >= count) resolve();
        else this.started.push(check);
      };
      this.started.push(check);
    });
  }

  async run(input: AgentInput): Promise<AgentOutcome> {
    // As every runner: nothing of the prompt is acted on before the run is stored.
    if (input.admitted && !(await input.admitted)) return { exitCode: null, aborted: true, output: "", outputTruncated: false, usage: emptyUsage(), sessionId: null, tools: [], error: null, survivors: [], egress: [] };
    this.calls.push(input);
    for (const wake of this.started.splice(0)) wake();
    const partial = await this.behaviour(input);
    return {
      exitCode: 0,
      aborted: input.signal.aborted,
      output: "",
      outputTruncated: false,
      usage: emptyUsage(),
      sessionId: "ses_fake",
      tools: [],
      error: null,
      survivors: [],
      egress: [],
      ...partial,
    };
  }
}

/** Emits `events`, then waits until the run is aborted (a hanging agent). */
export function hangAfter(...events: AgentEvent[]): FakeBehaviour {
  return (input) => {
    for (const e of events) input.onEvent(e);
    const text = events.flatMap((e) => (e.type === "text" ? [e.text] : [])).join("\n");
    return new Promise((resolve) => {
      const done = () => resolve({ exitCode: null, aborted: true, output: text });
      if (input.signal.aborted) done();
      else input.signal.addEventListener("abort", done, { once: true });
    });
  };
}
