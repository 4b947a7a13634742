// One element per run event: text as wrapped paragraphs, tools as collapsible cards, git/egress/status/usage as lines.
import { Component, type ComponentChildren } from "preact";
import { formatCost, formatCount, formatDuration, shortSha, statusLabel } from "../format.ts";
import type { GitEvent, RunEvent, RunView, ToolEvent } from "../types.ts";
import { ExternalLink, StatusBadge } from "./common.tsx";

export type ForgeLinks = RunView["forge_links"];

function Line(props: { event: RunEvent; children: ComponentChildren }) {
  const { event } = props;
  return (
    <p class={`event event-${event.type} event-line`} data-seq={event.seq} data-type={event.type} title={event.time}>
      {props.children}
    </p>
  );
}

function pretty(value: unknown): string {
  return typeof value === "string" ? value : (JSON.stringify(value, null, 2) ?? "");
}

function ToolCard(props: { event: RunEvent & ToolEvent }) {
  const { event } = props;
  const status = event.denied ? "denied" : event.status;
  return (
    <details class="event event-tool tool-card" data-testid="tool-card" data-seq={event.seq} data-type="tool" title={event.time}>
      <summary>
        <span class="tool-name">{event.tool}</span>
        {event.title && <span class="tool-title">{event.title}</span>}
        <StatusBadge status={status} />
        {typeof event.duration_ms === "number" && <span class="muted">{formatDuration(event.duration_ms)}</span>}
      </summary>
      <div class="tool-body">
        <h4>Input</h4>
        <pre>{pretty(event.input)}</pre>
        {event.output !== null && event.output !== undefined && (
          <>
            <h4>Output</h4>
            <pre>{pretty(event.output)}</pre>
          </>
        )}
        {event.error && <p class="tool-error">{event.error}</p>}
      </div>
    </details>
  );
}

function Sha(props: { sha: string | null; href: string | null | undefined }) {
  return (
    <ExternalLink href={props.sha ? props.href : null}>
      <code>{shortSha(props.sha)}</code>
    </ExternalLink>
  );
}

/** The forge links name the run's final branch and commit: an event about another one (a rejected push's first try) gets none. */
function linksFor(e: { branch: string; commit?: string | null }, forge: ForgeLinks): { branch: string | null; commit: string | null } {
  const encoded = e.branch.split("/").map(encodeURIComponent).join("/");
  return {
    branch: forge?.branch?.endsWith(`/${encoded}`) ? forge.branch : null,
    commit: e.commit && forge?.commit?.endsWith(`/${e.commit}`) ? forge.commit : null,
  };
}

function gitText(e: GitEvent, forge: ForgeLinks): ComponentChildren {
  const links = linksFor(e, forge);
  const branch = <ExternalLink href={links.branch}>{e.branch}</ExternalLink>;
  switch (e.action) {
    case "cloned":
      if (!e.base_branch) return <>Cloned {e.branch}</>;
      return (
        <>
          Cloned {e.branch} from {e.base_branch}@<code>{shortSha(e.base_commit)}</code>
        </>
      );
    case "committed":
      if (!e.commit) return <>Nothing to commit on {e.branch}</>;
      return (
        <>
          Committed <Sha sha={e.commit} href={links.commit} /> on {branch}
        </>
      );
    case "pushed":
      if (!e.pushed) return <>Not pushed: {e.branch}</>;
      return (
        <>
          Pushed {branch} @ <Sha sha={e.commit} href={links.commit} />
        </>
      );
    case "pull_request":
      return (
        <ExternalLink href={e.url}>
          Pull request #{e.number} {e.result}
        </ExternalLink>
      );
  }
}

function Body(props: { event: RunEvent; forge: ForgeLinks }) {
  const { event } = props;
  switch (event.type) {
    case "text":
      return (
        <p class="event event-text" data-seq={event.seq} data-type="text" title={event.time}>
          {event.text}
        </p>
      );
    case "tool":
      return <ToolCard event={event} />;
    case "git":
      return <Line event={event}>{gitText(event, props.forge)}</Line>;
    case "egress":
      return (
        <Line event={event}>
          Network {event.allowed ? "allowed" : "refused"}: {event.host}:{event.port} — {event.reason}
        </Line>
      );
    case "status":
      return <Line event={event}>Status: {statusLabel(event.status)}</Line>;
    case "usage":
      return (
        <Line event={event}>
          Step {event.steps}: {formatCount(event.step?.input_tokens)} tokens in, {formatCount(event.step?.output_tokens)} out, {formatCost(event.step?.cost)}
          {event.reason ? ` (${event.reason})` : ""}
        </Line>
      );
    case "result":
      return <Line event={event}>Run {statusLabel(event.status)}</Line>;
  }
}

/** An event never changes once received: it re-renders only if the forge links arrive later. */
export class EventItem extends Component<{ event: RunEvent; forge: ForgeLinks }> {
  override shouldComponentUpdate(next: { event: RunEvent; forge: ForgeLinks }): boolean {
    return next.event !== this.props.event || next.forge !== this.props.forge;
  }

  override render() {
    return <Body event={this.props.event} forge={this.props.forge} />;
  }
}
