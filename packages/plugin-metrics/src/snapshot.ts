// Metric snapshots as prom-client's `registry.getMetricsAsJSON()` makes them, and the part of them
// that only ever grows: counters, histograms (buckets, sum, count) and summaries' sum and count. That
// part of a worker outlives the worker: folded into the master's totals when it exits, so a counter
// never goes backwards because a deploy replaced every worker.

/** One metric as JSON (prom-client's `MetricObjectWithValues`), as it crosses the IPC channel. */
export interface MetricJson {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: MetricValue[];
}

export interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  /** `x_bucket`, `x_sum`, `x_count` for histograms and summaries. */
  metricName?: string;
}

/** A value that a restart would reset but that must not go back: the one a fold adds up. */
function isMonotonic(metric: MetricJson, value: MetricValue): boolean {
  if (metric.type === 'counter' || metric.type === 'histogram') return true;
  // A summary's quantiles describe a window of recent observations: only its sum and count accumulate.
  if (metric.type === 'summary') return value.metricName === `${metric.name}_sum` || value.metricName === `${metric.name}_count`;
  return false;
}

/** The monotonic part of a snapshot (gauges dropped: a worker that is gone has no memory in use). */
export function monotonicPart(metrics: readonly MetricJson[]): MetricJson[] {
  const kept: MetricJson[] = [];
  for (const metric of metrics) {
    const values = metric.values.filter((value) => isMonotonic(metric, value));
    if (values.length > 0) kept.push({ name: metric.name, help: metric.help, type: metric.type, aggregator: metric.aggregator, values });
  }
  return kept;
}

const keyOf = (value: MetricValue) =>
  `${value.metricName ?? ''}\u0000${Object.entries(value.labels)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('\u0000')}`;

/**
 * `totals` plus the monotonic part of `snapshot`, value by value (same metric, series and labels are
 * added; new ones join). Neither input is changed. A counter's aggregator is ignored here: whatever the
 * live workers' values are merged with, what the gone ones counted is a sum.
 */
export function fold(totals: readonly MetricJson[], snapshot: readonly MetricJson[]): MetricJson[] {
  const byName = new Map<string, { metric: MetricJson; values: Map<string, MetricValue> }>();
  const add = (metric: MetricJson) => {
    let entry = byName.get(metric.name);
    if (!entry) {
      entry = { metric: { name: metric.name, help: metric.help, type: metric.type, aggregator: metric.aggregator, values: [] }, values: new Map() };
      byName.set(metric.name, entry);
    } else if (entry.metric.type !== metric.type) {
      return; // The app changed a metric's type between deploys: the old totals stand, the new kind starts alone.
    }
    for (const value of metric.values) {
      if (!Number.isFinite(value.value)) continue;
      const key = keyOf(value);
      const seen = entry.values.get(key);
      if (seen) seen.value += value.value;
      else entry.values.set(key, { value: value.value, labels: { ...value.labels }, ...(value.metricName === undefined ? {} : { metricName: value.metricName }) });
    }
  };
  for (const metric of totals) add(metric);
  for (const metric of monotonicPart(snapshot)) add(metric);
  return [...byName.values()].map(({ metric, values }) => ({ ...metric, values: [...values.values()] }));
}

/**
 * A worker's reply as a snapshot, or undefined when it is not one: the channel carries whatever a worker
 * sends. A value that is not a finite number is dropped, not the whole reply: JSON turns NaN into null,
 * and prom-client's default metrics give NaN (`nodejs_eventloop_lag_mean_seconds` when two collections
 * come within one sample of each other).
 */
export function asSnapshot(value: unknown): MetricJson[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const metrics: MetricJson[] = [];
  for (const m of value as unknown[]) {
    const metric = m as MetricJson | null;
    if (metric === null || typeof metric !== 'object' || typeof metric.name !== 'string' || typeof metric.type !== 'string' || !Array.isArray(metric.values)) return undefined;
    if (!metric.values.every((v) => v !== null && typeof v === 'object' && (typeof v.value === 'number' || v.value === null) && v.labels !== null && typeof v.labels === 'object')) return undefined;
    metrics.push({ ...metric, values: metric.values.filter((v) => Number.isFinite(v.value)) });
  }
  return metrics;
}
