// The run's final answer: success or failure, the agent's output, timings, usage and what happened in git.
import { formatCost, formatCount, statusLabel } from "../format.ts";
import type { Outcome } from "../types.ts";
import { ExternalLink, Fact } from "./common.tsx";
import type { ForgeLinks } from "./event-cards.tsx";

function Git(props: { result: Outcome; forge: ForgeLinks }) {
  const { result: r, forge } = props;
  if (r.branch === undefined) return null;
  return (
    <>
      <Fact term="Branch">
        <ExternalLink href={forge?.branch}>{r.branch}</ExternalLink>
      </Fact>
      {r.commit && (
        <Fact term="Commit">
          <ExternalLink href={forge?.commit}>
            <code>{r.commit}</code>
          </ExternalLink>
        </Fact>
      )}
      {r.pushed !== undefined && <Fact term="Pushed">{r.pushed ? "yes" : "no"}</Fact>}
      {r.push_note && <Fact term="Push note">{r.push_note}</Fact>}
      {r.pull_request && (
        <Fact term="Pull request">
          <ExternalLink href={r.pull_request.url}>
            #{r.pull_request.number} {r.pull_request.action}
          </ExternalLink>
        </Fact>
      )}
      {r.pull_request_note && <Fact term="Pull request note">{r.pull_request_note}</Fact>}
    </>
  );
}

export function ResultPanel(props: { result: Outcome; forge: ForgeLinks }) {
  const { result: r } = props;
  const exceeded = r.budget?.exceeded;
  return (
    <section class={`panel result ${r.success ? "result-ok" : "result-failed"}`} data-testid="result" aria-labelledby="result-heading">
      <h2 id="result-heading">{r.success ? "Succeeded" : `Failed${r.code ? `: ${statusLabel(r.code)}` : ""}`}</h2>
      {r.error && <p class="result-error">{r.error}</p>}
      {exceeded && (
        <p class="note">
          Budget: {exceeded.scope} {exceeded.cap} limit {exceeded.limit} reached ({exceeded.used})
        </p>
      )}
      <h3>Output</h3>
      <pre class="output" data-testid="result-output">
        {r.output || "(no output)"}
      </pre>
      {r.output_truncated && <p class="note">The output was too long and has been cut.</p>}
      <dl class="facts">
        <Fact term="Execution time">{r.execution_time}</Fact>
        <Fact term="Queue time">{r.queue_time}</Fact>
        <Fact term="Tokens">
          {formatCount(r.usage.input_tokens)} in, {formatCount(r.usage.output_tokens)} out
        </Fact>
        <Fact term="Cost">{formatCost(r.usage.cost)}</Fact>
        {r.exit_code !== null && <Fact term="Exit code">{r.exit_code}</Fact>}
        <Git result={r} forge={props.forge} />
      </dl>
      {r.files_changed && r.files_changed.length > 0 && (
        <>
          <h3>Files changed</h3>
          <ul class="files">
            {r.files_changed.map((f) => (
              <li key={f}>
                <code>{f}</code>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
