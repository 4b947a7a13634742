// The run's events, the last 300 rendered (more on request), kept scrolled to the end while the reader is there.
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { formatCount } from "../format.ts";
import type { RunEvent } from "../types.ts";
import { EventItem, type ForgeLinks } from "./event-cards.tsx";

const WINDOW = 300;
// How close to the end still counts as "at the end" (a line's height or so).
const BOTTOM_SLACK_PX = 48;

export function EventList(props: { events: RunEvent[]; count: number; forge: ForgeLinks }) {
  const { events, count } = props;
  const [shown, setShown] = useState(WINDOW);
  const box = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  // Set when earlier events are added above: the scroll height before, to keep the view where it was.
  const heightBefore = useRef<number | null>(null);

  const start = Math.max(0, count - shown);
  const earlier = Math.min(WINDOW, start);

  useLayoutEffect(() => {
    const el = box.current;
    if (!el) return;
    if (heightBefore.current !== null) {
      el.scrollTop += el.scrollHeight - heightBefore.current;
      heightBefore.current = null;
    } else if (atBottom.current) {
      el.scrollTop = el.scrollHeight;
    }
  }, [count, shown]);

  const onScroll = () => {
    const el = box.current;
    if (el) atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight <= BOTTOM_SLACK_PX;
  };
  const showEarlier = () => {
    heightBefore.current = box.current?.scrollHeight ?? null;
    setShown(shown + WINDOW);
  };

  const visible = events.slice(start, count);
  return (
    <section class="events-section" aria-labelledby="events-heading">
      <div class="row between">
        <h2 id="events-heading">Events</h2>
        <span class="muted" data-testid="event-count">
          Showing {formatCount(visible.length)} of {formatCount(count)} events
        </span>
      </div>
      <div class="events" data-testid="events" ref={box} onScroll={onScroll} tabIndex={0} aria-label="Run events">
        {earlier > 0 && (
          <button type="button" class="quiet show-earlier" data-testid="show-earlier" onClick={showEarlier}>
            Show {formatCount(earlier)} earlier events
          </button>
        )}
        {count === 0 && <p class="muted">No events yet</p>}
        {visible.map((e) => (
          <EventItem key={e.seq} event={e} forge={props.forge} />
        ))}
      </div>
    </section>
  );
}
