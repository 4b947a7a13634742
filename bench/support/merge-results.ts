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

/** The lines before the summary table: title, how it was produced, the machine. */
function headOf(markdown: string): string[] {
  const lines = markdown.split("\n");
  const end = lines.findIndex((l) => l.startsWith("| benchmark"));
  return end < 0 ? lines : lines.slice(0, end);
}

/** Where the machine's bullets are in a head: [first, end). */
function machineSpan(head: string[]): [number, number] {
  const start = head.indexOf("## Machine");
  if (start < 0) return [head.length, head.length];
  let end = start + 1;
  while (end < head.length && !(head[end] as string).startsWith("## ")) end++;
  while (end > start + 1 && !(head[end - 1] as string).startsWith("- ")) end--;
  return [start + 1, end];
}

const OTHER_MACHINE = " ran on another machine: ";

/**
 * The previous full results with the fresh benches' rows and sections put in (in bench-number order), and a
 * line saying which were re-run when. The machine the full run measured stays described; a re-run elsewhere
 * says which machine it had. Null when there is nothing to merge into.
 */
export function mergeResults(previous: string | null, fresh: string, rerun: string): string | null {
  if (!previous) return null;
  const old = parse(previous);
  const now = parse(fresh);
  if (old.rows.size === 0) return null;
  const numbers = [...new Set([...old.rows.keys(), ...now.rows.keys()])].sort((a, b) => Number(a) - Number(b));
  const head = headOf(previous).map((l) => (l.startsWith("Produced by") ? `${old.produced} ${rerun}` : l));
  const [from, to] = machineSpan(head);
  const measured = head.slice(from, to).filter((l) => l.startsWith("- ") && !l.includes(OTHER_MACHINE));
  const freshHead = headOf(fresh);
  const [freshFrom, freshTo] = machineSpan(freshHead);
  const elsewhere = freshHead.slice(freshFrom, freshTo).filter((l) => l.startsWith("- "));
  if (elsewhere.length > 0 && elsewhere.join("\n") !== measured.join("\n")) {
    head.splice(to, 0, `- ${rerun.replace(/\.$/, "")}${OTHER_MACHINE}${elsewhere.map((l) => l.slice(2)).join("; ")}`);
  }
  return [
    ...head,
    "| benchmark | target | result | |",
    "|---|---|---|---|",
    ...numbers.map((n) => now.rows.get(n) ?? old.rows.get(n) ?? ""),
    "",
    ...numbers.flatMap((n) => now.sections.get(n) ?? old.sections.get(n) ?? []),
  ].join("\n");
}
