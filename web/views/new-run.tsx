// The "New run" form: POST /runs, then the new run's page; the server's errors shown beside the form.
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, errorText, postJson } from "../api.ts";
import { navigate, runPath } from "../router.ts";
import { asCreated } from "../types.ts";
import { ErrorAlert, submitOnCtrlEnter } from "./common.tsx";

const FIELDS = ["repository", "branch", "model", "agent"] as const;
type Field = (typeof FIELDS)[number];
const HINTS: Record<Field, string> = {
  repository: "https://github.com/owner/repo.git",
  branch: "the branch to work on",
  model: "provider/model",
  agent: "build",
};

/** `focusVisit` changes when the header's "New run" link is followed: then the prompt gets focus. */
export function NewRun(props: { focusVisit: number | null }) {
  const [open, setOpen] = useState(true);
  const [prompt, setPrompt] = useState("");
  const [values, setValues] = useState<Record<Field, string>>({ repository: "", branch: "", model: "", agent: "" });
  const [error, setError] = useState<ApiError | string | null>(null);
  const [busy, setBusy] = useState(false);
  const promptRef = useRef<HTMLTextAreaElement>(null);

  useEffect(() => {
    if (props.focusVisit === null) return;
    setOpen(true);
    // After the open <details> has rendered, so the textarea can take focus.
    requestAnimationFrame(() => promptRef.current?.focus());
  }, [props.focusVisit]);

  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    if (!prompt.trim()) return setError("Write a prompt first");
    const body: Record<string, string> = { prompt };
    for (const f of FIELDS) if (values[f].trim()) body[f] = values[f].trim();
    setBusy(true);
    setError(null);
    try {
      const created = await postJson("/runs", body, asCreated);
      navigate(runPath(created.id));
    } catch (err) {
      setError(err instanceof ApiError ? err : errorText(err));
      setBusy(false);
    }
  };
  const badField = error instanceof ApiError ? error.field : null;

  return (
    <details class="panel new-run" id="new-run" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>New run</summary>
      <form data-testid="new-run-form" onSubmit={submit} noValidate>
        <label for="prompt-input">Prompt</label>
        <textarea
          id="prompt-input"
          data-testid="prompt-input"
          ref={promptRef}
          required
          rows={4}
          value={prompt}
          aria-invalid={badField === "prompt" || undefined}
          aria-describedby="prompt-hint"
          onInput={(e) => setPrompt(e.currentTarget.value)}
          onKeyDown={submitOnCtrlEnter}
        />
        <p class="hint" id="prompt-hint">
          Ctrl+Enter (⌘+Enter) starts the run.
        </p>
        <div class="fields">
          {FIELDS.map((f) => (
            <div class="field" key={f}>
              <label for={`${f}-input`}>{f[0]?.toUpperCase() + f.slice(1)}</label>
              <input
                id={`${f}-input`}
                data-testid={`${f}-input`}
                placeholder={HINTS[f]}
                value={values[f]}
                aria-invalid={badField === f || undefined}
                autoComplete="off"
                onInput={(e) => setValues({ ...values, [f]: e.currentTarget.value })}
              />
            </div>
          ))}
        </div>
        <div class="row">
          <button type="submit" data-testid="start-run" disabled={busy}>
            {busy ? "Starting…" : "Start run"}
          </button>
        </div>
        <ErrorAlert testid="form-error" message={error instanceof ApiError ? error.message : error} />
      </form>
    </details>
  );
}
