import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { runLoad, within } from '@master-process/testkit';
import { get, master } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

describe('shutdownDelay (SHUTDOWN_DELAY)', () => {
  it('on SIGTERM, new connections are served during the delay, then the workers drain with 0 failed', async () => {
    const delay = 3000;
    const { m, port } = await master({ options: { workers: 2 } }, { SHUTDOWN_DELAY: '3s', APP_REQUEST_DELAY: '5' }, cleanups);
    await m.started();
    const load = runLoad({ target: { port }, connections: 8, keepAlive: true, durationMs: 60_000 });
    m.signal('SIGTERM');
    const stopping = await m.waitFor('master:stopping');
    assert.equal(stopping.args![0].delay, delay, 'master:stopping says how long the workers keep serving');
    // New connections after SIGTERM, as from a load balancer that has not yet heard of the stop.
    const fresh = new Set<number>();
    for (let i = 0; i < 10; i++) fresh.add((await get(port)).pid);
    assert.equal(m.count('worker:retire'), 0, 'every new connection was served before the drain began');
    assert.ok(fresh.size >= 1);
    const retire = await m.waitFor('worker:retire');
    assert.ok(retire.t - stopping.t >= delay - 100, `the drain began ${retire.t - stopping.t} ms after SIGTERM, before the ${delay} ms delay was over`);
    // The drain began: nothing new from now on; every request sent before it must succeed.
    load.stop();
    const result = await load.done;
    assert.deepEqual(await m.exited, { code: 0, signal: null });
    const { end, latency, pid } = result.samples;
    let failedBeforeDrain = 0;
    for (let i = 0; i < end.length; i++) if (pid[i] === 0 && end[i]! - latency[i]! < retire.t) failedBeforeDrain++;
    assert.equal(failedBeforeDrain, 0, `requests sent before the drain failed: ${JSON.stringify(result.failures)}`);
    assert.ok(result.ok > 0);
  });

  it('a second SIGTERM ends the delay and drains at once; SIGINT does not wait for it', async () => {
    const first = await master({ options: { workers: 1 } }, { SHUTDOWN_DELAY: '10m' }, cleanups);
    await first.m.started();
    first.m.signal('SIGTERM');
    await first.m.waitFor('master:stopping');
    first.m.signal('SIGTERM');
    assert.deepEqual(await within(first.m.exited, 30_000), { code: 0, signal: null });
    assert.ok(first.m.output.some((l) => l.includes('SIGTERM during the shutdown delay: draining now')), first.m.tail());
    assert.ok(first.m.events.find((e) => e.ev === 'worker:exit')!.args![1].expected, 'drained and retired, not killed');

    const second = await master({ options: { workers: 1 } }, { SHUTDOWN_DELAY: '10m' }, cleanups);
    await second.m.started();
    second.m.signal('SIGINT');
    assert.deepEqual(await within(second.m.exited, 30_000), { code: 0, signal: null });
    assert.equal(second.m.events.find((e) => e.ev === 'master:stopping')!.args![0].delay, undefined);
  });
});
