// The benchmark's correctness checks, in the normal suite: a real master-process master, its fixture
// workers, a keep-alive load and one reload (what the headline claims: no failed request, the new
// generation serves); the metrics scenario's machinery (its scraper gets real pages). Never a timing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metricsEntry, runMetrics } from '../src/metrics.js';
import { run } from '../src/run.js';

test('master-process: one reload under keep-alive load costs no request and the new generation serves', async () => {
  const result = await run({
    scenario: 'smoke',
    label: 'master-process',
    manager: { kind: 'master-process', workers: 2, app: {} },
    connections: 8,
    keepAlive: true,
    durationMs: 4000,
    reloads: 1,
    // Not a fixed window: the load runs until the new generation has answered, however busy the machine.
    untilNewServed: 50,
  });
  const [reload] = result.reloads;
  const detail = JSON.stringify({ failures: result.failures, groups: result.failureGroups, reload }, null, 1);
  assert.ok(result.total > 100, `the load ran (${result.total} requests)`);
  assert.equal(result.failed, 0, `failed requests during the reload: ${detail}`);
  assert.ok(reload?.ok, `the reload was reported done: ${detail}`);
  assert.equal(reload.newPids.length, 2, `a new generation of 2 workers was forked: ${detail}`);
  const servedByNew = reload.newPids.reduce((n, pid) => n + (reload.servedAfter[pid] ?? 0), 0);
  assert.ok(servedByNew > 0, `the new generation answered after the reload: ${detail}`);
  assert.equal(reload.oldAfterDone, 0, `no old worker answered a request sent after reload:done: ${detail}`);
  assert.deepEqual(result.leftovers, [], 'no process of the master is left after stop');
});

test('metrics scenario: the scraped variant gets every page with the workers\' metrics while the load runs, and costs no request', { skip: metricsEntry() ? false : 'needs a build of @master-process/plugin-metrics (pnpm build)' }, async () => {
  const { variants: results, cost } = await runMetrics({ workers: 2, connections: 4, durationMs: 2000, rounds: 1, intervalsMs: [200] });
  assert.deepEqual(results.map((r) => r.intervalMs), [null, 200], 'a variant never scraped, then the scraped one');
  const [never, scraped] = results;
  const detail = JSON.stringify(results, null, 1);
  for (const r of results) {
    assert.equal(r.failed, 0, `failed requests: ${detail}`);
    assert.ok(r.rounds[0]! > 0, `the load ran: ${detail}`);
    assert.deepEqual(r.leftovers, [], 'no process of the master is left after stop');
  }
  assert.equal(never!.scrapes, 0, 'the never-scraped variant was not scraped');
  // The scraper's first GET is sent as the load starts and is awaited at its stop: at least one, whatever the
  // machine's speed. Every page answered 200 and held the app's counter summed over the workers (else it counts as failed).
  assert.ok(scraped!.scrapes >= 1, `scrapes: ${detail}`);
  assert.deepEqual(scraped!.scrapeFailures, {}, `failed scrapes: ${detail}`);
  assert.equal(scraped!.incompleteScrapes, 0, `pages without a worker's metrics: ${detail}`);
  assert.equal(scraped!.scrapeLatency.count, scraped!.scrapes);
  assert.ok(scraped!.pageBytes > 0);
  // The idle measurement: its back-to-back scrapes got pages too (at least one, awaited at its stop).
  assert.ok(cost.scrapes >= 1, `idle scrapes: ${JSON.stringify(cost)}`);
  assert.deepEqual(cost.scrapeFailures, {}, `failed idle scrapes: ${JSON.stringify(cost)}`);
  assert.equal(cost.incomplete, 0, `idle pages without a worker's metrics: ${JSON.stringify(cost)}`);
  assert.deepEqual(cost.leftovers, []);
});
