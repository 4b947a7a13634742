// A run's facts (model, repository, times, related runs) and its live token and cost counters.
import { formatCost, formatCount, formatTime, runDuration } from "../format.ts";
import { runPath } from "../router.ts";
import type { RunView, Usage } from "../types.ts";
import { Fact, Link } from "./common.tsx";

const short = (id: string) => id.slice(0, 8);

export function RunMeta(props: { view: RunView; now: number }) {
  const { view: v, now } = props;
  return (
    <dl class="facts">
      {v.owner && (
        <Fact term="Owner">
          <span data-testid="run-owner">{v.owner}</span>
        </Fact>
      )}
      <Fact term="Model">{v.model ?? "default"}</Fact>
      <Fact term="Agent">{v.agent ?? "default"}</Fact>
      {v.repository && (
        <Fact term="Repository">
          {v.repository}
          {v.branch && <span class="sub">branch {v.branch}</span>}
          {v.base && <span class="sub">base {v.base}</span>}
        </Fact>
      )}
      <Fact term="Created">
        <time dateTime={v.created_at}>{formatTime(v.created_at)}</time>
      </Fact>
      <Fact term="Started">{formatTime(v.started_at)}</Fact>
      <Fact term="Finished">{formatTime(v.finished_at)}</Fact>
      <Fact term="Duration">{v.status === "queued" && v.queue_position !== null ? `queued #${v.queue_position}` : (runDuration(v, now) ?? "—")}</Fact>
      {v.parent_run_id && (
        <Fact term="Continues">
          <Link href={runPath(v.parent_run_id)}>run {short(v.parent_run_id)}</Link>
        </Fact>
      )}
      {v.children.length > 0 && (
        <Fact term="Follow-ups">
          <ul class="inline-list">
            {v.children.map((c) => (
              <li key={c}>
                <Link href={runPath(c)}>run {short(c)}</Link>
              </li>
            ))}
          </ul>
        </Fact>
      )}
    </dl>
  );
}

export function Counters(props: { usage: Usage | null; steps: number | null }) {
  const { usage, steps } = props;
  const counter = (id: string, label: string, value: string) => (
    <div class="counter">
      <dt>{label}</dt>
      <dd data-testid={`counter-${id}`}>{value}</dd>
    </div>
  );
  return (
    <dl class="counters" data-testid="counters">
      {counter("input-tokens", "Input tokens", formatCount(usage?.input_tokens ?? 0))}
      {counter("output-tokens", "Output tokens", formatCount(usage?.output_tokens ?? 0))}
      {counter("cost", "Cost", formatCost(usage?.cost ?? 0))}
      {/* Steps come only from usage events: a result without them leaves the count unknown. */}
      {counter("steps", "Steps", formatCount(steps ?? (usage ? null : 0)))}
    </dl>
  );
}
