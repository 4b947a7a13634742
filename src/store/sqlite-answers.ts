// A run's end in SQLite, its answer written a piece at a time (src/lib/json-pieces.ts), and the answer read back whole.
import type { Database } from "bun:sqlite";
import { jsonPieces } from "../lib/json-pieces.ts";
import type { Finish } from "../runs/store.ts";

/**
 * The run's status and answer: the answer's first piece in the row, the rest in answer_pieces, their count in
 * runs.answer_pieces (null: none). Binding a 10 MiB answer whole made SQLite hold copies of it while it wrote.
 */
export function writeEnd(db: Database, id: string, f: Finish): void {
  // Not cached statements: one keeps what it was bound to (an answer, a piece of one) until its next run.
  const update = db.prepare("UPDATE runs SET status = ?, code = ?, error = ?, finished_at = ?, answer = ?, answer_pieces = ? WHERE id = ?");
  const insert = db.prepare("INSERT INTO answer_pieces (run_id, n, text) VALUES (?, ?, ?)");
  try {
    const pieces = jsonPieces(f.outcome);
    const first = pieces.next();
    // A finish written again (a retry after a lost answer) replaces the pieces of the first.
    db.query("DELETE FROM answer_pieces WHERE run_id = ?").run(id);
    let n = 0;
    for (const piece of pieces) insert.run(id, ++n, piece);
    update.run(f.status, f.code, f.error, f.at, first.done ? null : first.value, n === 0 ? null : n, id);
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
