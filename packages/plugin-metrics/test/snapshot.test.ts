import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { asSnapshot, fold, monotonicPart, type MetricJson } from '../src/snapshot.js';

const counter = (value: number, labels = {}): MetricJson => ({ name: 'c_total', help: 'c', type: 'counter', aggregator: 'sum', values: [{ value, labels }] });
const gauge = (value: number): MetricJson => ({ name: 'g', help: 'g', type: 'gauge', aggregator: 'sum', values: [{ value, labels: {} }] });
const histogram = (count: number, sum: number): MetricJson => ({
  name: 'h', help: 'h', type: 'histogram', aggregator: 'sum',
  values: [
    { value: count, labels: { le: 1 }, metricName: 'h_bucket' },
    { value: count, labels: { le: '+Inf' }, metricName: 'h_bucket' },
    { value: sum, labels: {}, metricName: 'h_sum' },
    { value: count, labels: {}, metricName: 'h_count' },
  ],
});
const summary: MetricJson = {
  name: 's', help: 's', type: 'summary', aggregator: 'sum',
  values: [{ value: 3, labels: { quantile: 0.5 } }, { value: 9, labels: {}, metricName: 's_sum' }, { value: 3, labels: {}, metricName: 's_count' }],
};
const valuesOf = (metrics: MetricJson[], name: string) => metrics.find((m) => m.name === name)?.values.map((v) => [v.metricName ?? name, v.labels, v.value]);

describe('folding a gone worker into the totals', () => {
  it('adds counters series by series (label order does not matter) and keeps new series', () => {
    const totals = fold([], [counter(5, { route: '/', code: 200 }), counter(1, { route: '/x' })]);
    const next = fold(totals, [counter(2, { code: 200, route: '/' }), counter(4, { route: '/y' })]);
    assert.deepEqual(valuesOf(next, 'c_total'), [['c_total', { route: '/', code: 200 }, 7], ['c_total', { route: '/x' }, 1], ['c_total', { route: '/y' }, 4]]);
  });

  it('adds histograms bucket by bucket, summaries by sum and count only; drops gauges', () => {
    const totals = fold(fold([], [histogram(2, 0.5), summary, gauge(7)]), [histogram(3, 1.5), summary, gauge(8)]);
    assert.deepEqual(valuesOf(totals, 'h'), [['h_bucket', { le: 1 }, 5], ['h_bucket', { le: '+Inf' }, 5], ['h_sum', {}, 2], ['h_count', {}, 5]]);
    assert.deepEqual(valuesOf(totals, 's'), [['s_sum', {}, 18], ['s_count', {}, 6]]);
    assert.equal(valuesOf(totals, 'g'), undefined);
    assert.deepEqual(monotonicPart([gauge(1)]), []);
  });

  it('changes neither input; a metric that changed type keeps the old totals; non-finite values are skipped', () => {
    const first = [counter(1)];
    const totals = fold([], first);
    fold(totals, [counter(2)]);
    assert.deepEqual(valuesOf(totals, 'c_total'), [['c_total', {}, 1]]);
    assert.deepEqual(first[0]!.values[0]!.value, 1);
    const changed = fold(totals, [{ ...histogram(1, 1), name: 'c_total' }]);
    assert.deepEqual(valuesOf(changed, 'c_total'), [['c_total', {}, 1]]);
    assert.deepEqual(valuesOf(fold(totals, [counter(Number.NaN)]), 'c_total'), [['c_total', {}, 1]]);
  });

  it('checks what a worker sent; a NaN that JSON made null drops that value, not the reply', () => {
    assert.deepEqual(asSnapshot([counter(1), histogram(1, 1)]), [counter(1), histogram(1, 1)]);
    assert.deepEqual(asSnapshot([]), []);
    const lag = { name: 'nodejs_eventloop_lag_mean_seconds', help: 'lag', type: 'gauge', aggregator: 'average', values: [{ value: null, labels: {} }] };
    assert.deepEqual(asSnapshot(JSON.parse(JSON.stringify([counter(2), lag]))), [counter(2), { ...lag, values: [] }]);
    for (const bad of [null, 'x', {}, [{}], [{ name: 'a', type: 'counter', values: [{ value: '1', labels: {} }] }], [{ name: 'a', type: 'counter', values: [null] }]]) {
      assert.equal(asSnapshot(bad), undefined, JSON.stringify(bad));
    }
  });
});
