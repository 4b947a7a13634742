// The run's final answer: success or failure, the agent's output, timings, usage and what happened in git.
import type { ComponentChildren } from "preact";
import { formatCost, formatCount, statusLabel } from "../format.ts";
import type { Outcome } from "../types.ts";
import { ExternalLink } from "./common.tsx";
import type { ForgeLinks } from "./event-cards.tsx";

function Item(props: { term: string; children: ComponentChildren }) {
  return (
    <div>
      <dt>{props.term}</dt>
      <dd>{props.children}</dd>
    </div>
  );
}

function Git(props: { result: Outcome; forge: ForgeLinks }) {
  const { result: r, forge } = props;
  if (r.branch === undefined) return null;
  return (
    <>
      <Item term="Branch">
        <ExternalLink href={forge?.branch}>{r.branch}</ExternalLink>
      </Item>
      {r.commit && (
        <Item term="Commit">
          <ExternalLink href={forge?.commit}>
            <code>{r.commit}</code>
          </ExternalLink>
        </Item>
      )}
      {r.pushed !== undefined && <Item term="Pushed">{r.pushed ? "yes" : "no"}</Item>}
      {r.push_note && <Item term="Push note">{r.push_note}</Item>}
      {r.pull_request && (
        <Item term="Pull request">
          <ExternalLink href={r.pull_request.url}>
            #{r.pull_request.number} {r.pull_request.action}
          </ExternalLink>
        </Item>
      )}
      {r.pull_request_note && <Item term="Pull request note">{r.pull_request_note}</Item>}
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
        <Item term="Execution time">{r.execution_time}</Item>
        <Item term="Queue time">{r.queue_time}</Item>
        <Item term="Tokens">
          {formatCount(r.usage.input_tokens)} in, {formatCount(r.usage.output_tokens)} out
        </Item>
        <Item term="Cost">{formatCost(r.usage.cost)}</Item>
        {r.exit_code !== null && <Item term="Exit code">{r.exit_code}</Item>}
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
