import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { fixtures, isAlive, waitUntil } from '@master-process/testkit';
import { everySlot, get, master } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

describe('start, environment and stop', () => {
  it('starts W workers, each with WORKER_INDEX, RELOAD_INDEX, PPID and the env option', async () => {
    const { m, port } = await master({ options: { workers: 2, env: { CUSTOM: 'yes' } }, inlinePlugins: [fixtures.recorderPlugin] }, {}, cleanups);
    const started = await m.started();
    assert.equal(started.workers.length, 2);
    const answers = await everySlot(port, 2, '/env?names=CUSTOM,FROM_PLUGIN');
    for (const slot of [0, 1]) {
      assert.deepEqual(answers[slot].env, { WORKER_INDEX: String(slot), RELOAD_INDEX: '0', PPID: String(m.pid), CUSTOM: 'yes', FROM_PLUGIN: 'recorder' });
    }
  });

  it('SIGTERM stops gracefully: workers exit, onExit runs, the master exits 0', async () => {
    const { m } = await master({ options: { workers: 2 }, inlinePlugins: [fixtures.recorderPlugin] }, {}, cleanups);
    await m.started();
    const pids = [...m.pids];
    m.signal('SIGTERM');
    assert.deepEqual(await m.exited, { code: 0, signal: null });
    for (const pid of pids) assert.equal(isAlive(pid), false, `worker ${pid} survived the stop`);
    const exits = m.events.filter((e) => e.ev === 'worker:exit');
    assert.equal(exits.length, 2);
    assert.ok(exits.every((e) => e.args![1].expected), 'every exit was a retirement');
    const onExit = m.events.findIndex((e) => e.ev === 'hook' && e.hook === 'onExit');
    assert.ok(onExit > m.events.lastIndexOf(exits[1]!), 'onExit runs once every worker has exited');
    assert.deepEqual(m.events[onExit]!.code, 0);
  });

  it('SIGINT stops gracefully too', async () => {
    const { m } = await master({ options: { workers: 1 } }, {}, cleanups);
    await m.started();
    m.signal('SIGINT');
    assert.deepEqual(await m.exited, { code: 0, signal: null });
    await waitUntil(() => [...m.pids].every((p) => !isAlive(p)), 10_000, 'workers gone');
  });

  it('DEBUG=master-process (the original namespace) shows every lifecycle step with pids', async () => {
    const { m } = await master({ options: { workers: 1 } }, { DEBUG: 'master-process' }, cleanups);
    const started = await m.started();
    const pid = started.workers[0].pid;
    m.signal('SIGTERM');
    await m.exited;
    const logs = m.output.filter((l) => l.includes('master-process:core'));
    assert.ok(logs.some((l) => l.includes(`PID/${pid}: forked for slot 0`)), m.tail());
    assert.ok(logs.some((l) => l.includes(`PID/${pid}: ready`)), m.tail());
    assert.ok(logs.some((l) => l.includes(`PID/${pid}: retiring`)), m.tail());
  });

  it('a master with nothing left to do exits by itself after stop (no timer or handle survives)', async () => {
    const { m } = await master({ options: { workers: 2, exitProcess: false } }, {}, cleanups);
    await m.started();
    m.signal('SIGTERM');
    // exitProcess is off: the process ends only because nothing holds its event loop any more.
    assert.deepEqual(await m.exited, { code: 0, signal: null });
  });

  it('a retiring worker gets SIGTERM once: when drained, not again at half the kill timeout', async () => {
    const { m } = await master({ options: { workers: 1, killTimeout: 2000 } }, { APP_IGNORE_SIGTERM: '1', APP_LINGER: '1' }, cleanups);
    const started = await m.started();
    const old = started.workers[0].pid;
    await m.command('reload');
    const exit = await m.waitFor('worker:exit', (e) => e.args![0].pid === old);
    assert.equal(exit.args![1].signal, 'SIGKILL', 'it ignored SIGTERM and lingered until the kill timeout');
    assert.equal(m.appLines.filter((l) => l.app === 'sigterm' && l.pid === old).length, 1);
  });

  it('a retiring worker that ignores SIGTERM and holds a request is SIGKILLed at the kill timeout', async () => {
    const { m, port } = await master({ options: { workers: 1, killTimeout: 1500 } }, { APP_IGNORE_SIGTERM: '1' }, cleanups);
    const started = await m.started();
    const old = started.workers[0].pid;
    get(port, '/hold').catch(() => {}); // a long poll that never ends keeps the old worker from draining
    await m.until('the held request to arrive', () => true);
    await new Promise((r) => setTimeout(r, 300));
    await m.command('reload');
    const exit = await m.waitFor('worker:exit', (e) => e.args![0].pid === old);
    assert.equal(exit.args![1].signal, 'SIGKILL');
    assert.equal(exit.args![1].expected, true);
    assert.ok(m.appLines.some((l) => l.app === 'sigterm' && l.pid === old), 'SIGTERM was sent before SIGKILL');
  });
});
