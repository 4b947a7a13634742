// One run from start to finish — workspace, repository, agent, delivery, cleanup — and its result, whatever stopped it.
import { AppError, type ErrorCode } from "../errors.ts";
import type { Redactor } from "../lib/redact.ts";
import { emptyUsage, type AgentEvent, type AgentOutcome, type AgentRunner, type ToolCall } from "../opencode/types.ts";
import { killProcessTree, RUN_COOKIE_VAR } from "../proc/process-tree.ts";
import { stopReason } from "./abort.ts";
import type { RunEventBody } from "./model.ts";

/** What a run reports while it goes: its own events and the agent's (some of which are never published). */
export type PipelineEvent = RunEventBody | AgentEvent;
import type { Continuation, KeptCommits } from "./continuation.ts";
import { prepareRepo } from "./repo-clone.ts";
import { keepCommits, restoreKept } from "./repo-keep.ts";
import { publishRepo } from "./repo-publish.ts";
import { deliverPullRequest } from "./repo-pull-request.ts";
import type { GitOutcome, PreparedRepo, RepoDeps, RepoRequest } from "./repository.ts";
import type { RunResult } from "./result.ts";
import { createWorkspace, openWorkspace, warmRootOf, type Workspace } from "./workspace.ts";

export interface PipelineDeps {
  runner: AgentRunner;
  workDir: string;
  /** Where each run's workspace comes from (WorkspaceSpares: made ahead when it can be). */
  workspaces: { take(threadId: string, opts: { git: boolean }): Promise<Workspace> };
  redactor: Redactor;
  defaultModel: string | null;
  repo: RepoDeps;
}

export interface RunSpec {
  runId: string;
  requestId: string;
  prompt: string;
  model: string | null;
  agent: string | null;
  repo: RepoRequest | null;
  /** The conversation the run belongs to (its own id for a first run): its runs share a workspace path. */
  threadId: string;
  /** A follow-up: what the earlier run left (its session, its unpushed commits). */
  resume: Continuation | null;
}

/** How long delivering the partial work of a stopped run may take. */
const SALVAGE_MS = 60_000;

interface Failure {
  code: ErrorCode;
  message: string;
  field?: string;
}

function failureOf(err: unknown, signal: AbortSignal): Failure {
  if (signal.aborted) {
    const reason = stopReason(signal);
    return { code: reason.code, message: reason.message };
  }
  if (err instanceof AppError) {
    const field = typeof err.details.field === "string" ? err.details.field : undefined;
    return { code: err.code, message: err.message, ...(field ? { field } : {}) };
  }
  return { code: "internal", message: `The run could not be carried out: ${err instanceof Error ? err.message : String(err)}` };
}

/** A run whose every tool call opencode's permissions refused did none of its work, whatever it said. */
function refusedEverything(tools: readonly ToolCall[]): Failure | null {
  if (tools.length === 0 || !tools.every((t) => t.denied)) return null;
  const first = tools[0] as ToolCall;
  return {
    code: "permission_denied",
    message: `opencode's permissions refused every tool call the agent made (${tools.length}; first: ${first.tool}): ${first.error}`,
  };
}

/** What a follow-up of this run needs — or why it cannot have it. */
function continuationOf(outcome: AgentOutcome | null, commits: KeptCommits | null, keepProblem: string | null): RunResult["continuation"] {
  if (!outcome?.session) return outcome?.sessionProblem ? { problem: outcome.sessionProblem } : null;
  if (keepProblem) return { problem: keepProblem };
  return { session: outcome.session, commits };
}

/** A pushed branch's pull request (only for a run that succeeded); what failed, if it did. */
async function pullRequestOf(
  deps: PipelineDeps,
  prepared: PreparedRepo,
  git: GitOutcome,
  failure: Failure | null,
  ctx: { spec: RunSpec; model: string | null; outcome: AgentOutcome; signal: AbortSignal; emit: (event: PipelineEvent) => void },
): Promise<Failure | null> {
  if (failure) {
    git.pullRequestNote = `the run did not succeed (${failure.code}): no pull request${git.pushed ? ` (its work is on "${git.branch}")` : ""}`;
    return null;
  }
  const run = { runId: ctx.spec.runId, prompt: ctx.spec.prompt, output: deps.redactor.redact(ctx.outcome.output), model: ctx.model, usage: ctx.outcome.usage };
  const step = await deliverPullRequest(deps.repo, prepared, git, run, ctx.signal);
  git.pullRequest = step.result;
  git.pullRequestNote = step.note;
  if (step.result && step.base) {
    ctx.emit({ type: "git", action: "pull_request", branch: git.branch, base: step.base, url: step.result.url, number: step.result.number, result: step.result.action });
  }
  if (!step.error) return null;
  return ctx.signal.aborted ? failureOf(null, ctx.signal) : { code: "pull_request_failed", message: step.error };
}

/** A run whose start is written while it gets going (RunService.submit): when to write it, and whether that worked. */
export interface StartGate {
  /** The run reached its agent's start, a step that takes time (a clone), or its end: its start is written now. Idempotent. */
  reached(): void;
  /** True once its start is stored; false: it could not be, and the run is being stopped. */
  stored: Promise<boolean>;
}

/** A run whose start is in the store already (a claimed run's, or a test's). */
export const STORED: StartGate = { reached: () => {}, stored: Promise.resolve(true) };

/** A run that is over: its result, and what is left to tidy once it is answered. */
export interface RanRun {
  result: RunResult;
  /** Removes its workspace (every process of the run is gone already); never throws. */
  cleanup(): Promise<void>;
}

/** Runs the agent for `spec`; never throws for anything the run itself did. */
export async function executeRun(
  deps: PipelineDeps,
  spec: RunSpec,
  signal: AbortSignal,
  emit: (event: PipelineEvent) => void,
  gate: StartGate = STORED,
): Promise<RanRun> {
  const started = performance.now();
  const model = spec.model ?? deps.defaultModel;

  let outcome: AgentOutcome | null = null;
  let failure: Failure | null = null;
  let git: GitOutcome | null = null;
  let kept: KeptCommits | null = null;
  let keepProblem: string | null = null;
  // Removed after the answer (cleanup): a follow-up, which would work in the same path, starts only after that.
  let made: Workspace | null = null;
  try {
    // Stopped before it began (a thread already over its budget): nothing is created.
    if (signal.aborted) throw stopReason(signal);
    const sessionDir = spec.resume?.session.directory;
    // A warm agent comes with its workspace; a follow-up of its run works in that same path again.
    const reserved = spec.resume ? null : (deps.runner.reserve?.({ runId: spec.runId, repo: spec.repo !== null }) ?? null);
    const followRoot = sessionDir ? warmRootOf(deps.workDir, sessionDir) : null;
    const withGit = spec.repo !== null;
    // Otherwise a spare made ahead, renamed into the thread's path (WorkspaceSpares).
    const workspace = reserved ? openWorkspace(reserved.root) : followRoot ? createWorkspace(deps.workDir, spec.threadId, { git: withGit, root: followRoot }) : await deps.workspaces.take(spec.threadId, { git: withGit });
    made = workspace;
    // Disposed before the workspace goes: an agent the run never reached is gone before its directory.
    await using unused = { [Symbol.asyncDispose]: async () => reserved?.release() };
    if (sessionDir && sessionDir !== workspace.dir) {
      // opencode opens a continued session in its own directory (and fails when it is missing).
      throw new AppError("session_gone", `The session was kept by a server whose WORK_DIR differs (it worked in ${sessionDir}, this run would work in ${workspace.dir}): opencode continues a session only in its own directory — give every replica the same WORK_DIR`);
    }
    let prepared: PreparedRepo | null = null;
    try {
      if (spec.repo) {
        // A clone takes time: the run's start is stored before it, and nothing is fetched for a run that is not.
        gate.reached();
        if (!(await gate.stored)) throw stopReason(signal);
        // A warm agent's sandbox was made before the clone: it cannot be shown the mirror's objects, so its workspace stands alone.
        prepared = await prepareRepo(reserved ? { ...deps.repo, shareMirror: false } : deps.repo, spec.repo, workspace, spec.runId, signal);
        const earlier = spec.resume?.commits;
        if (earlier) prepared = await restoreKept(deps.repo, prepared, workspace, earlier, spec.runId, signal);
        emit({ type: "git", action: "cloned", branch: prepared.target, base_branch: prepared.baseBranch, base_commit: prepared.baseCommit });
      }
      // The agent starts at once and gets its prompt once the run is stored (`admitted`): its start is written while it boots.
      gate.reached();
      outcome = await deps.runner.run({
        runId: spec.runId,
        prompt: spec.prompt,
        model,
        agent: spec.agent,
        root: workspace.agentRoot,
        cwd: workspace.dir,
        tmpDir: workspace.tmp,
        home: workspace.home,
        readOnly: prepared?.sharedObjects ? [prepared.sharedObjects] : [],
        resume: spec.resume?.session ?? null,
        signal,
        onEvent: emit,
        admitted: gate.stored,
        furnished: workspace.furnished ?? null,
      });
      if (signal.aborted) failure = failureOf(null, signal);
      else if (outcome.exitCode !== 0) failure = { code: "agent_failed", message: `opencode failed: ${outcome.error ?? `exit code ${outcome.exitCode}`}` };
      else failure = refusedEverything(outcome.tools);

      // A cancelled run delivers nothing; any other unfinished run keeps its partial work on a side branch.
      if (prepared && failure?.code !== "client_closed" && failure?.code !== "cancelled") {
        const publishSignal = signal.aborted ? AbortSignal.timeout(SALVAGE_MS) : signal;
        git = await publishRepo(deps.repo, prepared, workspace, { runId: spec.runId, prompt: spec.prompt, stopped: failure?.code ?? null }, publishSignal);
        emit({ type: "git", action: git.pushed ? "pushed" : "committed", branch: git.branch, commit: git.commit, changed: git.changed, pushed: git.pushed });
        if (git.deliveryError && !failure) failure = signal.aborted ? failureOf(null, signal) : { code: "push_failed", message: git.deliveryError };
        if (prepared.request.pullRequest) failure = (await pullRequestOf(deps, prepared, git, failure, { spec, model, outcome, signal, emit })) ?? failure;
        // What was not pushed stays on the server for a follow-up (a session without its commits would mislead the agent).
        if (outcome.session) kept = await keepCommits(deps.repo, prepared, workspace, git, spec.runId).catch((err: unknown) => ((keepProblem = `its unpushed commits could not be kept: ${err instanceof Error ? err.message : String(err)}`), null));
      }
    } finally {
      // The server's own git processes carry the run cookie too: none may outlive the run, nor
      // write into the workspace while it is being removed.
      if (spec.repo) await killProcessTree({ cookie: `${RUN_COOKIE_VAR}=${spec.runId}` });
      // Nothing reads the mirror's borrowed objects any more: it may be evicted again.
      prepared?.lease?.release();
    }
  } catch (err) {
    failure = failureOf(err, signal);
  } finally {
    gate.reached();
  }

  const result: RunResult = {
    runId: spec.runId,
    requestId: spec.requestId,
    ok: failure === null,
    code: failure?.code ?? null,
    error: failure ? deps.redactor.redact(failure.message) : null,
    errorField: failure?.field ?? null,
    output: outcome?.outputTruncated ? deps.redactor.redactCut(outcome.output) : deps.redactor.redact(outcome?.output ?? ""),
    outputTruncated: outcome?.outputTruncated ?? false,
    durationMs: performance.now() - started,
    queueMs: 0,
    usage: outcome?.usage ?? emptyUsage(),
    sessionId: outcome?.sessionId ?? null,
    tools: outcome?.tools ?? [],
    exitCode: outcome?.exitCode ?? null,
    model,
    git: git ? deps.redactor.redactDeep(git) : null,
    survivors: outcome?.survivors ?? [],
    egress: outcome?.egress ?? [],
    continuation: continuationOf(outcome, kept, keepProblem),
  };
  const workspace = made;
  return { result, cleanup: () => (workspace ? workspace[Symbol.asyncDispose]().catch(() => undefined) : Promise.resolve()) };
}
