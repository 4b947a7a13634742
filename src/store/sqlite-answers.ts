// A run's end in SQLite, its answer written a piece at a time (src/lib/json-pieces.ts), and the answer read back whole.
import type { Database } from "bun:sqlite";
import { jsonPieces } from "../lib/json-pieces.ts";
import type { Finish } from "../runs/store.ts";

const UPDATE_END = "UPDATE runs SET status = ?, code = ?, error = ?, finished_at = ?, answer = ?, answer_pieces = ? WHERE id = ?";
const INSERT_PIECE = "INSERT INTO answer_pieces (run_id, n, text) VALUES (?, ?, ?)";
/** An end whose answer and error are at most this long is written with cached statements: what one keeps bound until its next run is no more than this. */
const CACHED_CHARS = 64 * 1024;

/**
 * The run's status and answer: the answer's first piece in the row, the rest in answer_pieces, their count in
 * runs.answer_pieces (null: none). Binding a 10 MiB answer whole made SQLite hold copies of it while it wrote.
 */
export function writeEnd(db: Database, id: string, f: Finish): void {
  const pieces = jsonPieces(f.outcome);
  const first = pieces.next();
  const text = first.done ? null : first.value;
  // A finish written again (a retry after a lost answer) replaces the pieces of the first.
  db.query("DELETE FROM answer_pieces WHERE run_id = ?").run(id);
  const short = (text?.length ?? 0) <= CACHED_CHARS && (f.error?.length ?? 0) <= CACHED_CHARS;
  const second = short ? pieces.next() : null;
  if (second?.done) {
    // One short piece (most answers): preparing the two statements afresh cost ~0.1 ms a run (bench 1).
    db.query(UPDATE_END).run(f.status, f.code, f.error, f.at, text, null, id);
    return;
  }
  // A long answer: statements of its own, finalized after, because a cached one keeps what it was bound to until its next run.
  const update = db.prepare(UPDATE_END);
  const insert = db.prepare(INSERT_PIECE);
  try {
    let n = 0;
    if (second) insert.run(id, ++n, second.value);
    for (const piece of pieces) insert.run(id, ++n, piece);
    update.run(f.status, f.code, f.error, f.at, text, n === 0 ? null : n, id);
  } finally {
    update.finalize();
    insert.finalize();
  }
}

/** A row's answer whole (its JSON text): the first piece and the `pieces` after it; a row from before pieces holds it all. */
export function answerText(db: Database, id: string, answer: string | null, pieces: number | null): string | null {
  if (answer === null || !pieces) return answer;
  const rest = db.query("SELECT text FROM answer_pieces WHERE run_id = ? ORDER BY n").all(id) as { text: string }[];
  if (rest.length !== pieces) throw new Error(`run ${id}: ${rest.length} of its answer's ${pieces} further pieces are stored`);
  return answer + rest.map((r) => r.text).join("");
}
