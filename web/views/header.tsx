// The bar on every page: home, new run, the API docs, the server's version, and forgetting the key.
import { forgetKey } from "../auth.ts";
import { Link } from "./common.tsx";

export function Header(props: { version: string | null; hasKey: boolean }) {
  return (
    <header class="top">
      <nav class="top-nav" aria-label="Main">
        <Link href="/ui" class="brand">
          opencode-server
        </Link>
        <Link href="/ui#new-run">New run</Link>
        <a href="/swagger">API</a>
      </nav>
      <div class="top-end">
        {props.version && <span class="version">v{props.version}</span>}
        {props.hasKey && (
          <button type="button" class="quiet" data-testid="forget-key" onClick={forgetKey}>
            Forget key
          </button>
        )}
      </div>
    </header>
  );
}
