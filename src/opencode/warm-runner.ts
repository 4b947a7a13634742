// The runner with a warm pool: a first run takes a ready warm agent and its workspace; anything else goes to `opencode run`.
import type { AgentInput, AgentOutcome, AgentRunner, FurnishedHome, ReservedWorkspace, WarmStats } from "./types.ts";
import type { WarmAgent } from "./warm-agent.ts";
import type { WarmPool } from "./warm-pool.ts";

export class WarmRunner implements AgentRunner {
  /** Agents handed to a run's pipeline, by run id, until the run reaches the agent (or ends before it). */
  private readonly reserved = new Map<string, { agent: WarmAgent; repo: boolean }>();

  constructor(
    private readonly pool: WarmPool,
    private readonly cold: AgentRunner,
  ) {}

  /** Follow-ups never ask (their session files must be in the home before opencode starts): the pipeline only asks for first runs. */
  reserve(run: { runId: string; repo: boolean }): ReservedWorkspace | null {
    const agent = this.pool.take();
    if (!agent) return null;
    this.reserved.set(run.runId, { agent, repo: run.repo });
    return {
      root: agent.workspace.root,
      release: async () => {
        if (this.reserved.get(run.runId)?.agent !== agent) return;
        this.reserved.delete(run.runId);
        await agent.kill();
      },
    };
  }

  /** The runs that find no warm agent are the cold runner's: their spare homes are its. */
  furnish(home: string): Promise<FurnishedHome | null> {
    return this.cold.furnish?.(home) ?? Promise.resolve(null);
  }

  run(input: AgentInput): Promise<AgentOutcome> {
    const held = this.reserved.get(input.runId);
    // The agent was booted for exactly this workspace; any other input (a resume) is not its to serve.
    if (!held || input.resume || input.root !== held.agent.workspace.agentRoot) return this.cold.run(input);
    this.reserved.delete(input.runId);
    return held.agent.run(input, held.repo);
  }

  warmStats(): WarmStats {
    return this.pool.status();
  }

  stop(): Promise<void> {
    return this.pool.stop();
  }
}
