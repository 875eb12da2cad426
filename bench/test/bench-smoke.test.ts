// The benchmark's correctness check, in the normal suite: a real master-process master, its fixture
// workers, a keep-alive load and one reload. It asserts what the headline claims (no failed request,
// the new generation serves), never a timing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
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
