// A prom-client histogram whose series are bound once: an observation is a bucket search and three additions.
import { Histogram, type MetricObjectWithValues, type MetricValueWithName, type MetricType, type Registry } from "prom-client";

// prom-client types `type` as an enum it does not export at run time: its value is this string.
const HISTOGRAM = "histogram" as unknown as MetricType;

/** One label set's counts; `observe` is what a hot path calls. */
export interface BoundSeries {
  observe(seconds: number): void;
}

interface SeriesData<L extends string> {
  labels: Record<L, string>;
  /** Per bucket (not cumulative); the last slot counts what is above every bound. */
  counts: Float64Array;
  sum: number;
  count: number;
  /** What `bind` hands out for this label set (one per series). */
  bound: BoundSeries;
}

/**
 * prom-client's own `observe` (and a `labels()` child's) validates and hashes the label set on every call:
 * measured at a fifth of a /health probe's whole cost under load (bench 2). Here each label set is looked
 * up once, by the caller's own key, and its counts are exported in prom-client's format when scraped —
 * the same exposition text (test/unit/bound-histogram.test.ts compares it with a plain Histogram's).
 * Every observation goes through `bind` (prom-client's `observe` would land in the parent's store, which is
 * never exported: Metrics, the only user, never calls it).
 */
export class BoundHistogram<L extends string> extends Histogram<L> {
  private readonly bounds: number[];
  private readonly series = new Map<string, SeriesData<L>>();
  private readonly metricName: string;
  private readonly metricHelp: string;

  constructor(opts: { name: string; help: string; labelNames: readonly L[]; buckets: number[]; registers: Registry[] }) {
    super({ name: opts.name, help: opts.help, labelNames: opts.labelNames, buckets: opts.buckets, registers: opts.registers });
    this.bounds = [...opts.buckets].sort((a, b) => a - b);
    this.metricName = opts.name;
    this.metricHelp = opts.help;
  }

  /** The series for `labels`, made on first use; `key` must identify the label set (callers pass their own cheap key). */
  bind(key: string, labels: Record<L, string>): BoundSeries {
    const known = this.series.get(key);
    if (known) return known.bound;
    const bounds = this.bounds;
    const d: SeriesData<L> = {
      labels: { ...labels },
      counts: new Float64Array(bounds.length + 1),
      sum: 0,
      count: 0,
      bound: {
        observe(seconds: number): void {
          if (!Number.isFinite(seconds)) return;
          let i = 0;
          while (i < bounds.length && seconds > (bounds[i] as number)) i++;
          (d.counts[i] as number) += 1;
          d.sum += seconds;
          d.count += 1;
        },
      },
    };
    this.series.set(key, d);
    return d.bound;
  }

  override reset(): void {
    // The base constructor resets before this class's fields exist.
    this.series?.clear();
  }

  private exported(): MetricValueWithName<L>[] {
    const values: MetricValueWithName<L>[] = [];
    const bucket = `${this.metricName}_bucket`;
    for (const d of this.series.values()) {
      let acc = 0;
      this.bounds.forEach((le, i) => {
        acc += d.counts[i] ?? 0;
        values.push({ labels: { le, ...d.labels }, value: acc, metricName: bucket });
      });
      values.push({ labels: { le: "+Inf", ...d.labels }, value: d.count, metricName: bucket });
      values.push({ labels: { ...d.labels }, value: d.sum, metricName: `${this.metricName}_sum` });
      values.push({ labels: { ...d.labels }, value: d.count, metricName: `${this.metricName}_count` });
    }
    return values;
  }

  /** What the registry renders (prom-client's registry prefers this to `get` where a metric has it, as Histogram does). */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<L>>> {
    return { name: this.metricName, help: this.metricHelp, type: HISTOGRAM, values: this.exported(), aggregator: "sum", collect: () => {} };
  }

  override get(): Promise<MetricObjectWithValues<MetricValueWithName<L>>> {
    return this.getForPromString();
  }
}
