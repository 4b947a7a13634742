// The run's change (GET /runs/<id>/diff): one collapsible block per file, lines coloured by kind and highlighted by language.
import { useEffect, useMemo, useState } from "preact/hooks";
import { ApiError, errorText, isAbort, request } from "../api.ts";
import { type DiffFile, type DiffLine, type DiffPart, parseDiff } from "../diff.ts";
import { formatCount } from "../format.ts";
import { languageOf, tokenize } from "../highlight.ts";
import { ErrorAlert } from "./common.tsx";

// Beyond this many lines the rest waits for "Show all": a huge diff would stall the page.
const LINE_CAP = 5000;

interface Loaded {
  parts: DiffPart[];
  truncated: boolean;
}

function Line(props: { line: DiffLine; language: string | null }) {
  const { line } = props;
  if (line.kind === "meta" || line.kind === "hunk") return <div class={`dl dl-${line.kind}`}>{line.text}</div>;
  return (
    <div class={`dl dl-${line.kind}`}>
      <span class="dl-sign">{line.text[0]}</span>
      {tokenize(line.text.slice(1), props.language).map((t, i) =>
        t.kind === "plain" ? (
          t.text
        ) : (
          <span key={i} class={`tok-${t.kind}`}>
            {t.text}
          </span>
        ),
      )}
    </div>
  );
}

function File(props: { file: DiffFile; limit: number }) {
  const { file, limit } = props;
  const language = languageOf(file.path);
  const lines = file.lines.slice(0, limit);
  return (
    <details class="diff-file" data-testid="diff-file" data-path={file.path} open>
      <summary>
        <code class="diff-path">{file.path}</code>
        <span class="diff-added">+{file.added}</span>
        <span class="diff-removed">−{file.removed}</span>
      </summary>
      <div class="diff-lines">
        {lines.map((l, i) => (
          <Line key={i} line={l} language={language} />
        ))}
        {lines.length < file.lines.length && <div class="dl dl-meta">… {formatCount(file.lines.length - lines.length)} more lines</div>}
      </div>
    </details>
  );
}

type Patch = { text: string; truncated: boolean } | null;

/**
 * GET /runs/<id>/diff when the run has one stored (`stored`), else the result's own patch (push: false);
 * the patch also stands in if the stored diff has gone. Once per run: a result does not change.
 */
function useDiff(runId: string, stored: boolean, patch: Patch): { diff: Loaded | null; error: string | null } {
  const [diff, setDiff] = useState<Loaded | null>(() => (stored || !patch ? null : { parts: parseDiff(patch.text), truncated: patch.truncated }));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!stored) return;
    const ctrl = new AbortController();
    request(`/runs/${encodeURIComponent(runId)}/diff`, { signal: ctrl.signal })
      .then(async (res) => setDiff({ parts: parseDiff(await res.text()), truncated: res.headers.get("x-diff-truncated") === "true" }))
      .catch((e: unknown) => {
        if (isAbort(e)) return;
        if (!(e instanceof ApiError && e.status === 404)) setError(errorText(e));
        else if (patch) setDiff({ parts: parseDiff(patch.text), truncated: patch.truncated });
      });
    return () => ctrl.abort();
  }, [runId, stored]);
  return { diff, error };
}

export function DiffView(props: { runId: string; stored: boolean; patch: Patch }) {
  const { diff, error } = useDiff(props.runId, props.stored, props.patch);
  const [all, setAll] = useState(false);
  const total = useMemo(() => (diff ? diff.parts.reduce((n, p) => n + p.lines.length, 0) : 0), [diff]);
  if (error) return <ErrorAlert message={`Could not load the diff: ${error}`} />;
  if (!diff) return null;
  let budget = all ? Number.POSITIVE_INFINITY : LINE_CAP;
  return (
    <section class="panel diff" data-testid="diff" aria-labelledby="diff-heading">
      <h2 id="diff-heading">Changes</h2>
      {diff.truncated && <p class="note">Diff truncated</p>}
      {diff.parts.map((part, i) => {
        const limit = Math.max(0, budget);
        budget -= part.lines.length;
        if (part.kind === "file") return <File key={i} file={part} limit={limit} />;
        return limit > 0 ? (
          <pre key={i} class="diff-note">
            {part.lines.slice(0, limit).join("\n")}
          </pre>
        ) : null;
      })}
      {!all && total > LINE_CAP && (
        <button type="button" onClick={() => setAll(true)}>
          Show all {formatCount(total)} lines
        </button>
      )}
    </section>
  );
}
