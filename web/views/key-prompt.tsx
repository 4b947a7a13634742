// Asks for the API key when the server wants one; the key goes to sessionStorage, nowhere else.
import { useState } from "preact/hooks";
import { saveKey } from "../auth.ts";

export function KeyPrompt(props: { refused: boolean }) {
  const [value, setValue] = useState("");
  const submit = (e: Event) => {
    e.preventDefault();
    const key = value.trim();
    if (key) saveKey(key);
  };
  return (
    <form class="panel key-form" data-testid="key-form" onSubmit={submit}>
      <h1>API key needed</h1>
      <p>This server asks for an API key. It is kept in this tab only and forgotten when the tab closes.</p>
      {props.refused && (
        <p class="alert" role="alert" data-testid="key-error">
          That key was refused
        </p>
      )}
      <label for="key-input">API key</label>
      <div class="row">
        <input
          id="key-input"
          type="password"
          data-testid="key-input"
          autoComplete="off"
          spellcheck={false}
          required
          autoFocus
          value={value}
          onInput={(e) => setValue(e.currentTarget.value)}
        />
        <button type="submit">Use key</button>
      </div>
    </form>
  );
}
