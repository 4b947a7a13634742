// The runs as a table (stacked cards on narrow screens), one row per run keyed by id.
import { formatCost, formatRelative, runDuration } from "../format.ts";
import { runPath } from "../router.ts";
import type { RunSummary } from "../types.ts";
import { Link, StatusBadge } from "./common.tsx";

function duration(run: RunSummary, now: number): string {
  if (run.status === "queued") return run.queue_position === null ? "queued" : `queued #${run.queue_position}`;
  return runDuration(run, now) ?? "—";
}

function Row(props: { run: RunSummary; now: number }) {
  const { run, now } = props;
  return (
    <tr data-testid="run-row" data-run-id={run.id} data-status={run.status}>
      <td data-label="Status">
        <StatusBadge status={run.status} />
      </td>
      <td data-label="Run" class="cell-title">
        <Link href={runPath(run.id)} testid="run-title">
          {run.title ?? `(${run.prompt_chars} chars)`}
        </Link>
        {run.owner && (
          <span class="sub" data-testid="run-owner">
            by {run.owner}
          </span>
        )}
      </td>
      <td data-label="Repository">
        {run.repository ?? "—"}
        {run.branch && <span class="sub">{run.branch}</span>}
      </td>
      <td data-label="Model">{run.model ?? "—"}</td>
      <td data-label="Duration" class="num">
        {duration(run, now)}
      </td>
      <td data-label="Cost" class="num">
        {formatCost(run.cost_usd)}
      </td>
      <td data-label="Created">
        <time dateTime={run.created_at} title={run.created_at}>
          {formatRelative(run.created_at, now)}
        </time>
      </td>
    </tr>
  );
}

export function RunTable(props: { runs: RunSummary[]; now: number }) {
  return (
    <table class="runs">
      <thead>
        <tr>
          <th scope="col">Status</th>
          <th scope="col">Run</th>
          <th scope="col">Repository</th>
          <th scope="col">Model</th>
          <th scope="col">Duration</th>
          <th scope="col">Cost</th>
          <th scope="col">Created</th>
        </tr>
      </thead>
      <tbody>
        {props.runs.map((run) => (
          <Row key={run.id} run={run} now={props.now} />
        ))}
      </tbody>
    </table>
  );
}
