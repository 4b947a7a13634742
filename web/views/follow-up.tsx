// After a run ends: a follow-up prompt continues its conversation as a new run (POST /runs/<id>/messages).
import { useState } from "preact/hooks";
import { errorText, postJson } from "../api.ts";
import { navigate, runPath } from "../router.ts";
import { asCreated } from "../types.ts";
import { ErrorAlert, submitOnCtrlEnter } from "./common.tsx";

export function FollowUp(props: { runId: string }) {
  const [prompt, setPrompt] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (busy) return;
    if (!prompt.trim()) return setError("Write a message first");
    setBusy(true);
    setError(null);
    try {
      const created = await postJson(`/runs/${encodeURIComponent(props.runId)}/messages`, { prompt }, asCreated);
      navigate(runPath(created.id));
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };
  return (
    <form class="panel follow-up" data-testid="follow-up-form" onSubmit={submit} noValidate>
      <label for="follow-up-input">Continue the conversation</label>
      <textarea
        id="follow-up-input"
        data-testid="follow-up-input"
        rows={3}
        required
        value={prompt}
        onInput={(e) => setPrompt(e.currentTarget.value)}
        onKeyDown={submitOnCtrlEnter}
      />
      <div class="row">
        <button type="submit" data-testid="send-follow-up" disabled={busy}>
          {busy ? "Sending…" : "Send follow-up"}
        </button>
      </div>
      <ErrorAlert testid="follow-up-error" message={error} />
    </form>
  );
}
