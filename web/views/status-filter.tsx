// Toggle buttons for the run list's status filter; the chosen statuses live in the URL (?status=a,b).
import { statusLabel } from "../format.ts";
import { RUN_STATUSES, type RunStatus } from "../types.ts";

const isStatus = (s: string): s is RunStatus => (RUN_STATUSES as readonly string[]).includes(s);

/** The statuses in `?status=`, in the order given (the order they were picked), unknown ones left out. */
export function parseStatuses(param: string | null): RunStatus[] {
  return [...new Set((param ?? "").split(","))].filter(isStatus);
}

export function StatusFilter(props: { selected: RunStatus[]; onChange: (next: RunStatus[]) => void }) {
  const { selected } = props;
  const toggle = (s: RunStatus) => props.onChange(selected.includes(s) ? selected.filter((x) => x !== s) : [...selected, s]);
  return (
    <div class="filter" role="group" aria-label="Filter by status" data-testid="status-filter">
      <button type="button" class="chip" data-status="all" aria-pressed={selected.length === 0} onClick={() => props.onChange([])}>
        All
      </button>
      {RUN_STATUSES.map((s) => (
        <button type="button" class="chip" key={s} data-status={s} aria-pressed={selected.includes(s)} onClick={() => toggle(s)}>
          {statusLabel(s)}
        </button>
      ))}
    </div>
  );
}
