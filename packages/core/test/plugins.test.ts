import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { fixtures, isAlive } from '@master-process/testkit';
import { get, master } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

const recorder = (options: Record<string, unknown>) => ({ module: fixtures.recorderPlugin, options });

describe('plugin hooks', () => {
  it('run in registration order, setup before the first fork and onExit after the last exit', async () => {
    const { m } = await master({ options: { workers: 1 }, inlinePlugins: [recorder({ name: 'a' }), recorder({ name: 'b' })] }, {}, cleanups);
    await m.started();
    m.signal('SIGHUP');
    await m.waitFor('reload:done');
    m.signal('SIGTERM');
    assert.equal((await m.exited).code, 0);
    const hooks = m.events.filter((e) => e.ev === 'hook');
    for (const hook of ['setup', 'beforeFork', 'onListening', 'onWorkerExit', 'onSignal', 'onExit']) {
      const calls = hooks.filter((h) => h.hook === hook).map((h) => h.plugin);
      assert.ok(calls.length >= 2, `${hook} was called: ${calls}`);
      for (let i = 0; i < calls.length; i += 2) assert.deepEqual(calls.slice(i, i + 2), ['a', 'b'], `${hook} in registration order`);
    }
    const at = (hook: string) => m.events.findIndex((e) => e.ev === 'hook' && e.hook === hook);
    assert.ok(at('setup') < m.events.findIndex((e) => e.ev === 'worker:fork'));
    assert.ok(at('onExit') > m.events.map((e) => e.ev).lastIndexOf('worker:exit'));
    assert.deepEqual(hooks.filter((h) => h.hook === 'onSignal').map((h) => h.signal), ['SIGHUP', 'SIGHUP', 'SIGTERM', 'SIGTERM']);
    assert.deepEqual(hooks.find((h) => h.hook === 'beforeFork' && h.generation === 1)?.reason, 'reload');
  });

  it('a throw in onListening is reported with the plugin name; the master keeps serving and reloading', async () => {
    const { m, port } = await master({ options: { workers: 1 }, inlinePlugins: [recorder({ name: 'flaky', throwIn: 'onListening' })] }, {}, cleanups);
    await m.started();
    const error = await m.waitFor('plugin:error');
    assert.equal(error.args![0].code, 'MP_ERR_PLUGIN_HOOK');
    assert.match(error.args![0].message, /Plugin "flaky" failed in its `onListening` hook/);
    await m.until('the error on stderr', () => m.output.some((l) => l.includes('master-process: Plugin "flaky" failed')));
    await m.command('reload');
    assert.equal((await get(port)).gen, 1);
  });

  it('a throw in setup refuses the start: nothing is forked, the master exits 1 naming the plugin', async () => {
    const { m } = await master({ options: { workers: 1 }, inlinePlugins: [recorder({ name: 'picky', throwIn: 'setup' })] }, {}, cleanups);
    assert.equal((await m.exited).code, 1);
    assert.equal(m.count('worker:fork'), 0);
    assert.ok(m.output.some((l) => l.includes('Plugin "picky" failed in its `setup` hook')), m.tail());
    assert.ok(m.events.some((e) => e.ev === 'hook' && e.hook === 'onExit'), 'onExit still runs, so plugins can clean up');
  });

  for (const hook of ['onSignal', 'onExit', 'onListening']) {
    it(`a ${hook} hook that never resolves is timed out and named; stop() still finishes`, async () => {
      const { m, port } = await master({ options: { workers: 1, hookTimeout: 800 }, inlinePlugins: [recorder({ name: 'stuck', hangIn: hook })] }, {}, cleanups);
      await m.started();
      m.signal('SIGHUP');
      await m.waitFor('reload:done');
      assert.equal((await get(port)).gen, 1, 'a stuck hook holds up neither the reload nor the serving');
      const isTimeout = (e: { args?: any[] }) => e.args![0].code === 'MP_ERR_HOOK_TIMEOUT';
      // onSignal is not awaited by the master: its timeout is reported while the master goes on.
      if (hook !== 'onExit') await m.waitFor('plugin:error', isTimeout);
      const pids = [...m.pids];
      m.signal('SIGTERM');
      assert.equal((await m.exited).code, 0);
      const timeout = m.events.find((e) => e.ev === 'plugin:error' && isTimeout(e));
      assert.ok(timeout, m.tail());
      assert.match(timeout.args![0].message, new RegExp(`Plugin "stuck" did not finish its \`${hook}\` hook within 800 ms`));
      for (const pid of pids) assert.equal(isAlive(pid), false);
    });
  }

  it('a beforeFork hook that never resolves fails that reload; the old workers keep serving', async () => {
    const { m, port } = await master({ options: { workers: 1, hookTimeout: 800 }, inlinePlugins: [recorder({ name: 'slow', hangIn: 'beforeFork', onlyReason: 'reload' })] }, {}, cleanups);
    await m.started();
    await assert.rejects(m.command('reload'), /did not finish its `beforeFork` hook within 800 ms/);
    assert.equal((await get(port)).gen, 0);
  });

  it('a plugin signal reaches only its onSignal, and the master survives it', async () => {
    const { m, port } = await master(
      { options: { workers: 1 }, inlinePlugins: [recorder({ name: 'usr2', signals: ['SIGUSR2'] }), recorder({ name: 'other' })] },
      {},
      cleanups,
    );
    await m.started();
    // Two identical signals sent at once may merge into one (the kernel does not queue them): one at a time.
    m.signal('SIGUSR2');
    await m.until('one SIGUSR2 hook', () => m.events.some((e) => e.ev === 'hook' && e.hook === 'onSignal'));
    m.signal('SIGUSR2');
    await m.until('two SIGUSR2 hooks', () => m.events.filter((e) => e.ev === 'hook' && e.hook === 'onSignal').length === 2);
    assert.deepEqual(m.events.filter((e) => e.ev === 'hook' && e.hook === 'onSignal').map((e) => e.plugin), ['usr2', 'usr2']);
    assert.equal((await get(port)).gen, 0);
    assert.equal(await m.command('api', { name: 'usr2' }), true, 'master.plugin(name) gives the api');
    assert.equal(await m.command('api', { name: 'nobody' }), false);
  });
});
