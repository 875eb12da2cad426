import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { isAlive, waitUntil } from '@master-process/testkit';
import { get, master } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

describe('crashes', () => {
  it('a crashed worker is replaced in its slot, after the rest of WORKER_THROTTLE', async () => {
    const { m, port } = await master({ options: { workers: 2 } }, { WORKER_THROTTLE: '3s' }, cleanups);
    await m.started();
    const victim = (await get(port, '/crash')).pid ?? undefined;
    const exit = await m.waitFor('worker:exit', (e) => !e.args![1].expected);
    const dead = exit.args![0];
    const delay = await m.waitFor('worker:crash-delay');
    assert.equal(delay.args![0].slot, dead.slot);
    // It lived well under 3 s, so it waits for the rest of those 3 s.
    assert.ok(delay.args![0].delay > 0 && delay.args![0].delay <= 3000, `delay ${delay.args![0].delay}`);
    const fork = await m.waitFor('worker:fork', (e) => e.args![0].reason === 'crash');
    assert.equal(fork.args![0].slot, dead.slot);
    assert.ok(fork.t - exit.t >= delay.args![0].delay - 50, 'the replacement waited for the throttle');
    await m.waitFor('worker:ready', (e) => e.args![0].pid === fork.args![0].pid);
    const workers = await m.workers();
    assert.deepEqual(workers.map((w) => w.slot), [0, 1]);
    assert.ok(!workers.some((w) => w.pid === dead.pid));
    void victim;
  });

  it('a worker killed with SIGKILL (as by the OOM killer) is replaced on the newest generation', async () => {
    const { m } = await master({ options: { workers: 2 } }, { WORKER_THROTTLE: '100ms' }, cleanups);
    await m.started();
    await m.command('reload');
    const [first] = await m.workers();
    process.kill(first!.pid, 'SIGKILL');
    const fork = await m.waitFor('worker:fork', (e) => e.args![0].reason === 'crash');
    assert.equal(fork.args![0].slot, first!.slot);
    assert.equal(fork.args![0].generation, 1, 'the replacement runs the newest generation');
    await m.waitFor('worker:ready', (e) => e.args![0].pid === fork.args![0].pid);
  });

  it('a crash loop stops the master with exit code 1 after crash.maxCrashes forks, backing off between them', async () => {
    const { m } = await master({ options: { workers: 1, crash: { throttle: 200, maxCrashes: 4 } } }, { APP_BOOT: 'throw' }, cleanups);
    const { code } = await m.exited;
    assert.equal(code, 1);
    assert.equal(m.count('worker:fork'), 4, 'the number of forks is bounded by maxCrashes');
    const delays = m.events.filter((e) => e.ev === 'worker:crash-delay').map((e) => e.args![0].delay);
    assert.equal(delays.length, 3);
    assert.ok(delays[2] > delays[0], `exponential backoff: ${delays}`);
    assert.ok(m.output.some((l) => /slot 0 crashed 4 times within 60000 ms/.test(l)), m.tail());
    await waitUntil(() => [...m.pids].every((p) => !isAlive(p)), 10_000, 'no worker left');
  });

  it('RESTART_BACKOFF=constant keeps the delay at WORKER_THROTTLE', async () => {
    const { m } = await master({ options: { workers: 1, crash: { maxCrashes: 3 } } }, { APP_BOOT: 'throw', WORKER_THROTTLE: '300ms', RESTART_BACKOFF: 'constant' }, cleanups);
    assert.equal((await m.exited).code, 1);
    const delays = m.events.filter((e) => e.ev === 'worker:crash-delay').map((e) => e.args![0].delay);
    assert.equal(delays.length, 2);
    for (const d of delays) assert.ok(d <= 300, `constant backoff: ${delays}`);
  });

  it('crash: "exit" makes any worker crash stop the master with a non-zero code', async () => {
    const { m, port } = await master({ options: { workers: 2, crash: 'exit' } }, {}, cleanups);
    await m.started();
    await get(port, '/crash');
    const { code } = await m.exited;
    assert.equal(code, 1);
    assert.equal(m.count('worker:fork'), 2, 'nothing was re-forked');
    await waitUntil(() => [...m.pids].every((p) => !isAlive(p)), 10_000, 'no worker left');
  });
});
