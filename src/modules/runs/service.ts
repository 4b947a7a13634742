// The /runs resource without HTTP: create, read, list, cancel — built on the run manager and the store.
import { AppError } from "../../errors.ts";
import type { RunManager } from "../../runs/run-manager.ts";
import type { RunRow, RunStore, StoredStatus } from "../../store/run-store.ts";
import { runInputOf } from "../run/service.ts";
import type { RunRequestBody } from "../run/model.ts";
import type { RunSummaryBody, RunViewBody } from "./model.ts";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function linksOf(id: string) {
  return { self: `/runs/${id}`, events: `/runs/${id}/events`, cancel: `/runs/${id}` };
}

export function encodeCursor(row: Pick<RunRow, "created_at" | "id">): string {
  return Buffer.from(`${row.created_at}:${row.id}`).toString("base64url");
}

export function decodeCursor(cursor: string): { createdAt: number; id: string } {
  const m = /^(\d{1,15}):([0-9a-f-]{36})$/.exec(Buffer.from(cursor, "base64url").toString());
  if (!m) throw new AppError("invalid_request", 'Invalid field "cursor": not a cursor from a previous page', { field: "cursor" });
  return { createdAt: Number(m[1]), id: m[2] as string };
}

export class RunsService {
  constructor(
    private readonly runs: RunManager,
    private readonly store: RunStore,
  ) {}

  create(body: RunRequestBody, ctx: { requestId: string; idempotencyKey: string | null }) {
    const handle = this.runs.submit(runInputOf(body), { requestId: ctx.requestId, idempotencyKey: ctx.idempotencyKey });
    const row = this.store.get(handle.id);
    return {
      replayed: handle.replayed,
      body: { id: handle.id, status: (row?.status ?? "queued") as StoredStatus, queue_position: this.runs.queuePosition(handle.id), links: linksOf(handle.id) },
    };
  }

  private summary(row: RunRow): RunSummaryBody {
    return {
      id: row.id,
      status: row.status,
      request_id: row.request_id,
      created_at: iso(row.created_at) as string,
      started_at: iso(row.started_at),
      finished_at: iso(row.finished_at),
      queue_position: this.runs.queuePosition(row.id),
      prompt_chars: row.prompt_chars,
      model: row.model,
      agent: row.agent,
      repository: row.repository,
      branch: row.branch,
      base: row.base,
      push: row.push === null ? null : row.push === 1,
      code: row.code,
      error: row.error,
      links: linksOf(row.id),
    };
  }

  get(id: string): RunViewBody | null {
    const row = this.store.get(id);
    if (!row) return null;
    return { ...this.summary(row), result: row.answer ? (JSON.parse(row.answer) as RunViewBody["result"]) : null };
  }

  list(q: { status?: StoredStatus[]; limit?: number; cursor?: string }) {
    const limit = q.limit ?? 20;
    const rows = this.store.list({
      statuses: q.status,
      limit: limit + 1,
      before: q.cursor ? decodeCursor(q.cursor) : undefined,
    });
    const page = rows.slice(0, limit);
    const last = page.at(-1);
    return { runs: page.map((r) => this.summary(r)), next_cursor: rows.length > limit && last ? encodeCursor(last) : null };
  }

  /** Cancels and waits until the run has ended: when this answers "cancelled", its processes are gone. */
  async cancel(id: string): Promise<RunViewBody> {
    const outcome = await this.runs.cancel(id);
    if (!outcome) throw new AppError("not_found", `No run ${id}`);
    const view = this.get(id) as RunViewBody;
    if (outcome.alreadyFinished) throw new AppError("run_finished", `The run already ended (${view.status}); there is nothing to cancel`, { status: view.status });
    return view;
  }
}
