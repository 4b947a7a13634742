// What a pull request says about the run that made it: the agent's account (clipped), the files, the run's id, model, usage and a link.
import type { Usage } from "./model.ts";

/** Forges cap bodies (GitHub at 65,536 characters); the agent's text is clipped well below, keeping its end, where it sums up. */
const MAX_AGENT_TEXT = 4000;
const MAX_FILES = 50;

export interface RunSummary {
  runId: string;
  model: string | null;
  usage: Usage;
  filesChanged: readonly string[];
  /** PUBLIC_URL; null: no link. */
  publicUrl: string | null;
  commit: string | null;
}

function clipped(text: string): string {
  const t = text.trim();
  return t.length <= MAX_AGENT_TEXT ? t : `…${t.slice(t.length - MAX_AGENT_TEXT + 1)}`;
}

/** Markdown that cannot break out of a list item or code span (a file name may hold backticks). */
function code(text: string): string {
  return `\`${text.replaceAll("`", "'").replace(/[\r\n]+/g, " ")}\``;
}

export function runDetails(s: RunSummary): string {
  const link = s.publicUrl ? ` ([details](${s.publicUrl}/runs/${s.runId}))` : "";
  const tokens = s.usage.input_tokens + s.usage.output_tokens;
  const lines = [
    `**Run** ${code(s.runId)}${link}${s.commit ? ` · **commit** ${code(s.commit.slice(0, 12))}` : ""}`,
    `**Model** ${s.model ? code(s.model) : "opencode's default"} · **tokens** ${tokens} (${s.usage.input_tokens} in, ${s.usage.output_tokens} out) · **cost** $${s.usage.cost.toFixed(4)}`,
  ];
  const files = s.filesChanged.slice(0, MAX_FILES).map((f) => `- ${code(f)}`);
  if (s.filesChanged.length > MAX_FILES) files.push(`- … and ${s.filesChanged.length - MAX_FILES} more`);
  if (files.length > 0) lines.push("", `**Files changed** (${s.filesChanged.length}):`, ...files);
  return lines.join("\n");
}

/** The body: the request's own text, else what the agent said it did; then the run's details. */
export function pullRequestBody(own: string | null, agentText: string, s: RunSummary): string {
  const said = own?.trim() || clipped(agentText) || "_The agent said nothing about its change._";
  return `${said}\n\n---\n${runDetails(s)}\n\n<sub>Opened by opencode-server.</sub>`;
}

/** The comment a later run (a follow-up on the same branch) adds to the pull request already open. */
export function updateComment(agentText: string, s: RunSummary): string {
  return `A new run pushed to this branch.\n\n${clipped(agentText) || "_The agent said nothing about its change._"}\n\n---\n${runDetails(s)}`;
}
