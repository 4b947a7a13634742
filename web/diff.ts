// Splits a unified git diff (or git format-patch output) into files, with each line's kind and the +/− counts.

export type LineKind = "add" | "del" | "context" | "hunk" | "meta";
export interface DiffLine {
  kind: LineKind;
  text: string;
}
export interface DiffFile {
  kind: "file";
  path: string;
  added: number;
  removed: number;
  lines: DiffLine[];
}
/** Text around the files: format-patch headers and commit messages, signature lines. */
export interface DiffNote {
  kind: "note";
  lines: string[];
}
export type DiffPart = DiffFile | DiffNote;

const HUNK = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/;

/** The path from `diff --git a/X b/Y`: Y, found where both halves agree when the names hold spaces. */
function pathOf(header: string): string {
  const rest = header.slice("diff --git ".length);
  const half = (rest.length - 1) / 2;
  if (Number.isInteger(half) && rest.startsWith("a/") && rest.slice(half + 1).startsWith("b/") && rest.slice(2, half) === rest.slice(half + 3)) return rest.slice(half + 3);
  const b = rest.lastIndexOf(" b/");
  return b === -1 ? rest : rest.slice(b + 3);
}

export function parseDiff(text: string): DiffPart[] {
  const parts: DiffPart[] = [];
  let file: DiffFile | null = null;
  let note: DiffNote | null = null;
  // Lines left in the current hunk (old side, new side): past both, the file's lines are over.
  let oldLeft = 0;
  let newLeft = 0;
  let sawHunk = false;
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const addNote = (line: string) => {
    if (!note) parts.push((note = { kind: "note", lines: [] }));
    note.lines.push(line);
  };
  for (const line of lines) {
    if (line.startsWith("diff --git ")) {
      file = { kind: "file", path: pathOf(line), added: 0, removed: 0, lines: [{ kind: "meta", text: line }] };
      note = null;
      oldLeft = newLeft = 0;
      sawHunk = false;
      parts.push(file);
      continue;
    }
    if (!file) {
      addNote(line);
      continue;
    }
    const hunk = HUNK.exec(line);
    if (hunk) {
      oldLeft = Number(hunk[1] ?? "1");
      newLeft = Number(hunk[2] ?? "1");
      sawHunk = true;
      file.lines.push({ kind: "hunk", text: line });
    } else if (line.startsWith("\\") && sawHunk) {
      file.lines.push({ kind: "meta", text: line });
    } else if (oldLeft > 0 || newLeft > 0) {
      const sign = line[0];
      if (sign === "+") {
        newLeft -= 1;
        file.added += 1;
        file.lines.push({ kind: "add", text: line });
      } else if (sign === "-") {
        oldLeft -= 1;
        file.removed += 1;
        file.lines.push({ kind: "del", text: line });
      } else {
        oldLeft -= 1;
        newLeft -= 1;
        file.lines.push({ kind: "context", text: line });
      }
    } else if (sawHunk) {
      // After the last hunk of a format-patch: the signature and the next commit's header.
      addNote(line);
    } else {
      file.lines.push({ kind: "meta", text: line });
    }
  }
  return parts;
}
