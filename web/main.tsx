// Entry of the dashboard's browser code (bundled by src/modules/dashboard/bundle.ts): reads /health, then routes.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { errorText, requestJson } from "./api.ts";
import { setRequired, useAuth } from "./auth.ts";
import { type Route, useRoute } from "./router.ts";
import { asHealth, type Health } from "./types.ts";
import { ErrorAlert, Link } from "./views/common.tsx";
import { Header } from "./views/header.tsx";
import { KeyPrompt } from "./views/key-prompt.tsx";
import { RunList } from "./views/run-list.tsx";
import { RunPage } from "./views/run-page.tsx";

const HEALTH_RETRY_MS = 3000;

/** GET /health (public) until it answers: it says whether a key is needed, and the version. */
function useHealth(): { health: Health | null; error: string | null } {
  const [health, setHealth] = useState<Health | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const h = await requestJson("/health", asHealth, { cache: "no-store" });
        // Before the pages mount, so their first requests already wait for a key when one is needed.
        setRequired(h.auth === "api_key");
        setHealth(h);
        setError(null);
      } catch (e) {
        setError(`Cannot read the server's health: ${errorText(e)}`);
        timer = setTimeout(load, HEALTH_RETRY_MS);
      }
    };
    void load();
    return () => clearTimeout(timer);
  }, []);
  return { health, error };
}

function Page(props: { route: Route }) {
  const { route } = props;
  if (route.page === "list") return <RunList query={route.query} hash={route.hash} visit={route.visit} />;
  if (route.page === "run") return <RunPage key={route.id} id={route.id} />;
  return (
    <div class="panel">
      <h1>Not found</h1>
      <p>
        This page does not exist. <Link href="/ui">See the runs</Link>
      </p>
    </div>
  );
}

function App() {
  const { health, error } = useHealth();
  const auth = useAuth();
  const route = useRoute();
  const needKey = health !== null && auth.required && auth.key === null;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <Header version={health?.version ?? null} hasKey={auth.key !== null} />
      <main id="main" tabIndex={-1}>
        <ErrorAlert message={error} />
        {needKey && <KeyPrompt refused={auth.refused} />}
        {health && (
          // Hidden, not unmounted, behind the key prompt: what was typed survives and failed requests resume.
          <div hidden={needKey}>
            <Page route={route} />
          </div>
        )}
      </main>
    </>
  );
}

const root = document.getElementById("app");
if (root) render(<App />, root);
