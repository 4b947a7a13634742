// `bench --only …`: the benches that ran replace their own rows and sections of bench/RESULTS.md; the others' stay as they were measured.

/** A bench's number ("13") from its name ("13. Dashboard …") or its summary row / section heading. */
const numberOf = (text: string) => /^(?:\| |## )?(\d+)\./.exec(text)?.[1] ?? null;

interface Parsed {
  produced: string;
  rows: Map<string, string>;
  sections: Map<string, string[]>;
}

function parse(markdown: string): Parsed {
  const lines = markdown.split("\n");
  const rows = new Map<string, string>();
  const sections = new Map<string, string[]>();
  let current: string[] | null = null;
  for (const line of lines) {
    if (line.startsWith("## ")) {
      const n = numberOf(line);
      current = n ? [] : null;
      if (n && current) sections.set(n, current);
    }
    if (current) current.push(line);
    const n = line.startsWith("| ") ? numberOf(line) : null;
    if (n && !current) rows.set(n, line);
  }
  return { produced: lines.find((l) => l.startsWith("Produced by")) ?? "", rows, sections };
}

/**
 * The previous full results with the fresh benches' rows and sections put in (in bench-number order), and a
 * line saying which were re-run when. Null when there is nothing to merge into.
 */
export function mergeResults(previous: string | null, fresh: string, rerun: string): string | null {
  if (!previous) return null;
  const old = parse(previous);
  const now = parse(fresh);
  if (old.rows.size === 0) return null;
  const numbers = [...new Set([...old.rows.keys(), ...now.rows.keys()])].sort((a, b) => Number(a) - Number(b));
  const freshLines = fresh.split("\n");
  const head = freshLines.slice(0, freshLines.findIndex((l) => l.startsWith("| benchmark"))).map((l) => (l.startsWith("Produced by") ? `${old.produced} ${rerun}` : l));
  return [
    ...head,
    "| benchmark | target | result | |",
    "|---|---|---|---|",
    ...numbers.map((n) => now.rows.get(n) ?? old.rows.get(n) ?? ""),
    "",
    ...numbers.flatMap((n) => now.sections.get(n) ?? old.sections.get(n) ?? []),
  ].join("\n");
}
