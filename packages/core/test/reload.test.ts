import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { fixtures, isAlive, runLoad, sleep, waitUntil } from '@master-process/testkit';
import { deployable, everySlot, get, master } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});


describe('rolling reload', () => {
  it('SIGHUP replaces every worker with the next generation, and only the old workers exit', async () => {
    const { m, port } = await master({ options: { workers: 2 } }, {}, cleanups);
    const started = await m.started();
    const before = started.workers.map((w: any) => w.pid);
    m.signal('SIGHUP');
    const done = await m.waitFor('reload:done');
    const after = done.args![0].workers;
    assert.equal(after.length, 2);
    assert.deepEqual(after.map((w: any) => w.generation), [1, 1]);
    assert.deepEqual(after.map((w: any) => w.slot), [0, 1]);
    for (const w of after) assert.ok(!before.includes(w.pid) && isAlive(w.pid));
    const exited = m.events.filter((e) => e.ev === 'worker:exit').map((e) => e.args![0].pid).sort();
    assert.deepEqual(exited, [...before].sort(), 'exactly the old workers exited');
    for (const pid of before) assert.equal(isAlive(pid), false);
    const answers = await everySlot(port, 2);
    assert.deepEqual(answers.map((a) => a.gen), [1, 1]);
    assert.deepEqual(m.events.find((e) => e.ev === 'reload:start')!.args![0], { generation: 1, trigger: 'SIGHUP' });
    assert.equal(done.args![0].trigger, 'SIGHUP');
    const phases = m.events.filter((e) => e.ev === 'reload:phase').map((e) => e.args![0]);
    assert.deepEqual(phases.map((p) => p.phase), ['spawning', 'waiting-ready', 'retiring-old']);
    assert.deepEqual(phases[0].slots, [0, 1]);
    // Each phase is announced when it begins: every new worker forked before waiting-ready, every old one retired after retiring-old.
    const at = (ev: string, match: (e: any) => boolean = () => true) => m.events.findIndex((e) => e.ev === ev && match(e));
    const phaseAt = (name: string) => at('reload:phase', (e) => e.args[0].phase === name);
    assert.ok(m.events.slice(0, phaseAt('waiting-ready')).filter((e) => e.ev === 'worker:fork' && e.args![0].generation === 1).length === 2);
    assert.ok(phaseAt('retiring-old') < at('worker:retire'));
  });

  for (const keepAlive of [true, false]) {
    it(`no request fails during reloads under load (keep-alive ${keepAlive ? 'on' : 'off'})`, async () => {
      const { m, port } = await master({ options: { workers: 2 } }, {}, cleanups);
      await m.started();
      const load = runLoad({ target: { port }, connections: 16, keepAlive });
      cleanups.push(async () => load.stop());
      for (let i = 1; i <= 3; i++) {
        const since = m.mark();
        m.signal('SIGHUP');
        const done = await m.waitFor('reload:done', () => true, { since });
        // Traffic on the new generation before the next reload: 50 answers from it after reload:done (it also
        // answers during the drain), however slow the machine.
        const from = load.samples.pid.length;
        const fresh = new Set(done.args![0].workers.map((w: { pid: number }) => w.pid));
        await waitUntil(() => load.samples.pid.slice(from).filter((pid) => fresh.has(pid)).length >= 50, 60_000, 'answers from the new generation');
      }
      load.stop();
      const result = await load.done;
      assert.ok(result.total > 200, `load ran (${result.total} requests)`);
      assert.equal(result.failed, 0, `failed requests: ${JSON.stringify(result.failures)} ${JSON.stringify(result.firstFailures.slice(0, 5))}`);
      const newest = (await m.workers()).map((w) => w.pid);
      const lastPids = result.samples.pid.slice(-50);
      assert.ok(lastPids.every((pid) => newest.includes(pid)), 'after the last reload only the newest generation answers');
    });
  }

  it('a new generation that never becomes ready: the reload fails and the old workers keep serving', async () => {
    const { file, deploy } = deployable(cleanups);
    const { m, port } = await master({ options: { workers: 2, readyTimeout: 6000 } }, { APP_CONFIG_FILE: file }, cleanups);
    const started = await m.started();
    const old = started.workers.map((w: any) => w.pid).sort();
    const load = runLoad({ target: { port }, connections: 8, keepAlive: true });
    cleanups.push(async () => load.stop());
    deploy({ boot: 'never-listen' });
    m.signal('SIGHUP');
    const failed = await m.waitFor('reload:failed');
    assert.equal(failed.args![0].error.code, 'MP_ERR_RELOAD_FAILED');
    assert.match(failed.args![0].error.message, /not ready within 6000 ms.*previous workers keep serving/s);
    const { failure } = failed.args![0];
    assert.equal(failure.worker.generation, 1, 'the failure names the new worker');
    assert.equal(failure.exit, undefined, 'not ready in time: it had not exited');
    assert.deepEqual(m.events.filter((e) => e.ev === 'reload:phase').map((e) => e.args![0].phase), ['spawning', 'waiting-ready', 'aborting']);
    await m.until('the failure printed on stderr without DEBUG', () => m.output.some((l) => l.startsWith('master-process: reload 1 failed')));
    const serving = (await m.workers()).filter((w) => w.state === 'ready').map((w) => w.pid).sort();
    assert.deepEqual(serving, old);
    await m.until('the never-ready workers to be gone', () => m.count('worker:exit') >= 2);
    assert.ok(m.events.filter((e) => e.ev === 'worker:exit').every((e) => !old.includes(e.args![0].pid)), 'no old worker exited');
    deploy({});
    const next = await m.command('reload');
    assert.deepEqual(next.workers.map((w: any) => w.generation), [2, 2]);
    load.stop();
    const result = await load.done;
    assert.equal(result.failed, 0, JSON.stringify(result.failures));
  });

  it('reload() rejects with a clear error when the new code throws at boot, and no crash loop follows', async () => {
    const { file, deploy } = deployable(cleanups);
    const { m, port } = await master({ options: { workers: 2 } }, { APP_CONFIG_FILE: file }, cleanups);
    const started = await m.started();
    deploy({ boot: 'throw' });
    await assert.rejects(m.command('reload'), (error: any) => {
      assert.equal(error.code, 'MP_ERR_RELOAD_FAILED');
      assert.match(error.message, /reload 1 failed: worker \d+ \(slot \d, generation 1\) exited before it was ready \(code 1, signal null\)/, "names the worker that failed, not a sibling the master retired");
      return true;
    });
    assert.equal(m.count('worker:crash-delay'), 0, 'a failed new worker is not a crash of the slot');
    const failed = m.events.find((e) => e.ev === 'reload:failed')!.args![0];
    assert.equal(failed.trigger, 'api');
    assert.equal(failed.failure.exit.code, 1);
    assert.match(failed.failure.stderr, /Error: fixture app: boot failure \(APP_BOOT=throw\)/, 'the end of its stderr: why it died');
    assert.match(failed.error.message, new RegExp(`worker ${failed.failure.worker.pid} `), 'the failure is the worker the message names');
    assert.deepEqual((await m.command('state')).state, 'running');
    assert.deepEqual((await m.workers()).map((w) => w.pid).sort(), started.workers.map((w: any) => w.pid).sort());
    assert.equal((await get(port)).gen, 0);
  });

  it('SIGHUPs during a reload coalesce into one follow-up reload', async () => {
    const { file, deploy } = deployable(cleanups);
    const { m, port } = await master({ options: { workers: 2 } }, { APP_CONFIG_FILE: file }, cleanups);
    await m.started();
    deploy({ bootDelay: 1000 });
    for (let i = 0; i < 10; i++) {
      m.signal('SIGHUP');
      await sleep(30);
    }
    await m.until('two reloads done', () => m.count('reload:done') === 2);
    await sleep(1500); // a third would have started by now
    assert.equal(m.count('reload:start'), 2);
    assert.ok(m.events.filter((e) => e.ev === 'reload:start').every((e) => e.args![0].trigger === 'SIGHUP'), 'the follow-up keeps its trigger');
    const workers = await m.workers();
    assert.deepEqual(workers.map((w) => [w.slot, w.generation]), [[0, 2], [1, 2]]);
    assert.equal((await get(port)).gen, 2);
  });

  it('reload.concurrency 1 replaces one slot at a time: never more than W + 1 workers alive', async () => {
    const { m } = await master({ options: { workers: 3, reload: { concurrency: 1 } } }, { APP_BOOT_DELAY: '300' }, cleanups);
    await m.started();
    const since = m.mark();
    m.signal('SIGHUP');
    await m.waitFor('reload:done', () => true, { since });
    let alive = 3;
    let peak = 3;
    for (const e of m.events.slice(since)) {
      if (e.ev === 'worker:fork') peak = Math.max(peak, ++alive);
      if (e.ev === 'worker:exit') alive--;
    }
    assert.equal(peak, 4);
    assert.equal(alive, 3);
  });

  it('a throw in beforeFork aborts the reload; the old workers keep serving', async () => {
    const { m, port } = await master({ options: { workers: 2 }, inlinePlugins: [{ module: fixtures.recorderPlugin, options: { name: 'gate', throwIn: 'beforeFork', onlyReason: 'reload' } }] }, {}, cleanups);
    const started = await m.started();
    m.signal('SIGHUP');
    const failed = await m.waitFor('reload:failed');
    assert.match(failed.args![0].error.message, /Plugin "gate" failed in its `beforeFork` hook: gate refuses in beforeFork/);
    const pluginError = await m.waitFor('plugin:error');
    assert.equal(pluginError.args![0].code, 'MP_ERR_PLUGIN_HOOK');
    assert.equal(m.count('worker:fork', (e) => e.args![0].reason === 'reload'), 0);
    assert.deepEqual((await m.workers()).map((w) => w.pid).sort(), started.workers.map((w: any) => w.pid).sort());
    assert.equal((await get(port)).gen, 0);
  });
});

describe('reload probation', () => {
  it('a new generation that exits soon after becoming ready fails the reload within reload.probation; the old one keeps serving', async () => {
    const { file, deploy } = deployable(cleanups);
    const { m, port } = await master({ options: { workers: 2, reload: { probation: 3000 } } }, { APP_CONFIG_FILE: file }, cleanups);
    const started = await m.started();
    const old = started.workers.map((w: any) => w.pid).sort();
    const load = runLoad({ target: { port }, connections: 8, keepAlive: false });
    cleanups.push(async () => load.stop());
    deploy({ boot: 'exit-after-ready', exitAfter: 500 });
    await assert.rejects(m.command('reload'), (error: any) => {
      assert.equal(error.code, 'MP_ERR_RELOAD_FAILED');
      assert.match(error.message, /exited \d+ ms after it became ready \(code 1, signal null\), within reload.probation \(3000 ms\)/);
      return true;
    });
    const serving = (await m.workers()).filter((w) => w.state === 'ready').map((w) => w.pid).sort();
    assert.deepEqual(serving, old, 'the old generation still serves');
    assert.equal(m.count('worker:crash-delay'), 0, 'no crash loop follows');
    deploy({});
    const next = await m.command('reload');
    assert.deepEqual(next.workers.map((w: any) => w.generation), [2, 2]);
    load.stop();
    const result = await load.done;
    // Keep-alive off: each request is its own connection, and the old workers never left rotation.
    assert.ok(result.total > 100);
    assert.equal((await get(port)).gen, 2);
  });
});
