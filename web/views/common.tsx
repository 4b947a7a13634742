// Small pieces every page uses: in-app links, status badges, error alerts, a ticking clock.
import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { statusLabel } from "../format.ts";
import { followLink } from "../router.ts";

export function Link(props: { href: string; class?: string; testid?: string; children: ComponentChildren }) {
  return (
    <a href={props.href} class={props.class} data-testid={props.testid} onClick={followLink}>
      {props.children}
    </a>
  );
}

/** A link off the dashboard (a forge page), only for http(s) URLs so a stored value cannot run script. */
export function ExternalLink(props: { href: string | null | undefined; children: ComponentChildren }) {
  const safe = props.href && /^https?:\/\//i.test(props.href) ? props.href : null;
  if (!safe) return <>{props.children}</>;
  return (
    <a href={safe} target="_blank" rel="noopener noreferrer">
      {props.children}
    </a>
  );
}

/** One term and its value in a <dl>. */
export function Fact(props: { term: string; children: ComponentChildren }) {
  return (
    <div>
      <dt>{props.term}</dt>
      <dd>{props.children}</dd>
    </div>
  );
}

export function StatusBadge(props: { status: string; testid?: string }) {
  return (
    <span class={`badge badge-${props.status.replace(/[^a-z_]/g, "")}`} data-testid={props.testid}>
      {statusLabel(props.status)}
    </span>
  );
}

export function ErrorAlert(props: { message: string | null; testid?: string }) {
  if (!props.message) return null;
  return (
    <p class="alert" role="alert" data-testid={props.testid ?? "error"}>
      {props.message}
    </p>
  );
}

/** Date.now() at each render, with a re-render every second while `ticking` (live durations). */
export function useNow(ticking: boolean): number {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (!ticking) return;
    const timer = setInterval(() => setTick((n) => n + 1), 1000);
    return () => clearInterval(timer);
  }, [ticking]);
  return Date.now();
}

/** Ctrl/Cmd+Enter in a textarea submits its form. */
export function submitOnCtrlEnter(e: KeyboardEvent): void {
  if (e.key !== "Enter" || !(e.ctrlKey || e.metaKey) || !(e.currentTarget instanceof HTMLTextAreaElement)) return;
  e.preventDefault();
  e.currentTarget.form?.requestSubmit();
}
