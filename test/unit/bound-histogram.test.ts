// BoundHistogram renders exactly what a prom-client Histogram fed the same observations renders.
import { expect, test } from "bun:test";
import { Histogram, Registry } from "prom-client";
import { BoundHistogram } from "../../src/metrics/bound-histogram.ts";

const BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1];
const OBSERVED: [string, string, number][] = [
  ["GET", "/health", 0.0004],
  ["GET", "/health", 0.001],
  ["GET", "/health", 0.0031],
  ["POST", "/run", 0.7],
  ["POST", "/run", 12],
  ["GET", "/health", 0.09],
  ["POST", "/run", 0],
];

test("the exposition text and the JSON equal prom-client's own histogram's", async () => {
  const plainRegistry = new Registry();
  const boundRegistry = new Registry();
  const opts = { name: "t_duration_seconds", help: "Durations", labelNames: ["method", "route"] as const, buckets: BUCKETS };
  const plain = new Histogram({ ...opts, labelNames: [...opts.labelNames], registers: [plainRegistry] });
  const bound = new BoundHistogram({ ...opts, registers: [boundRegistry] });
  for (const [method, route, seconds] of OBSERVED) {
    plain.observe({ method, route }, seconds);
    bound.bind(`${method} ${route}`, { method, route }).observe(seconds);
  }
  expect(await boundRegistry.metrics()).toBe(await plainRegistry.metrics());
  // prom-client's values also carry an empty `exemplar` (exemplars are off), and its `collect` hook: neither is rendered.
  const json = async (r: Registry) =>
    (await r.getMetricsAsJSON()).map((m) => ({ name: m.name, help: m.help, type: m.type, aggregator: m.aggregator, values: m.values.map((v) => ({ labels: v.labels, value: v.value, metricName: "metricName" in v ? v.metricName : null })) }));
  expect(await json(boundRegistry)).toEqual(await json(plainRegistry));
  expect(await boundRegistry.metrics()).toContain('t_duration_seconds_bucket{le="+Inf",method="POST",route="/run"} 3');
});

test("a series bound twice is one series; reset empties it", async () => {
  const registry = new Registry();
  const h = new BoundHistogram({ name: "u_seconds", help: "U", labelNames: ["route"], buckets: [1], registers: [registry] });
  h.bind("a", { route: "/a" }).observe(0.5);
  h.bind("a", { route: "/a" }).observe(2);
  expect(await registry.metrics()).toBe(
    ["# HELP u_seconds U", "# TYPE u_seconds histogram", 'u_seconds_bucket{le="1",route="/a"} 1', 'u_seconds_bucket{le="+Inf",route="/a"} 2', 'u_seconds_sum{route="/a"} 2.5', 'u_seconds_count{route="/a"} 2', ""].join("\n"),
  );
  registry.resetMetrics();
  expect(await registry.metrics()).toBe("# HELP u_seconds U\n# TYPE u_seconds histogram\n");
});
