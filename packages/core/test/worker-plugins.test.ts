import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { master } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const echo = (options: Record<string, unknown> = {}) => ({ module: fixture('echo-plugin.mjs'), options });
const rejectsWith = (promise: Promise<unknown>, code: string, pattern: RegExp) =>
  assert.rejects(promise, (error: Error & { code?: string }) => {
    assert.equal(error.code, code, error.message);
    assert.match(error.message, pattern);
    return true;
  });

describe('plugin worker halves and requests', () => {
  it('request and gather reach each worker half, namespaced by plugin, unseen by the app and by worker:message', async () => {
    const { m } = await master({ options: { workers: 2 }, inlinePlugins: [echo({ workerOptions: { level: 3 } }), echo({ name: 'other' })] }, { APP_LOG_MESSAGES: '1' }, cleanups);
    const started = await m.started();
    const replies = await m.command('gather', { plugin: 'echo', type: 'echo', payload: { n: 1 } });
    assert.deepEqual(replies.map((r: any) => r.ok), [true, true]);
    assert.deepEqual(replies.map((r: any) => r.worker.pid).sort(), started.workers.map((w: any) => w.pid).sort());
    assert.deepEqual(replies.map((r: any) => r.value.workerIndex), [0, 1]);
    assert.deepEqual(replies[0].value, { pid: replies[0].worker.pid, name: 'echo', options: { level: 3 }, workerIndex: 0, reloadIndex: 0, payload: { n: 1 } });
    const pid = started.workers[0].pid;
    assert.equal((await m.command('request', { pid, plugin: 'other', type: 'echo' })).name, 'other');

    await rejectsWith(m.command('request', { pid, plugin: 'echo', type: 'fail' }), 'MP_ERR_REQUEST_FAILED', new RegExp(`worker ${pid} failed plugin "echo" request "fail": echo handler failed on purpose`));
    await rejectsWith(m.command('request', { pid, plugin: 'echo', type: 'nope' }), 'MP_ERR_NO_HANDLER', /plugin "echo" has no handler for "nope".*it handles: echo, fail, slow, exit, once/);
    await rejectsWith(m.command('request', { pid, plugin: 'missing', type: 'echo' }), 'MP_ERR_NO_HANDLER', /No plugin named "missing" has a worker half.*echo, other/);
    await rejectsWith(m.command('request', { pid: 1, plugin: 'echo', type: 'echo' }), 'MP_ERR_WORKER_EXIT', /no connected worker with pid 1/);
    await rejectsWith(m.command('request', { pid, plugin: 'echo', type: 'slow', options: { timeout: 300 } }), 'MP_ERR_REQUEST_TIMEOUT', /did not answer plugin "echo" request "slow" within 300 ms/);
    assert.equal(await m.command('request', { pid, plugin: 'echo', type: 'once' }), 'removed');
    await rejectsWith(m.command('request', { pid, plugin: 'echo', type: 'once' }), 'MP_ERR_NO_HANDLER', /no handler for "once"/);

    // The app's own listeners work (one message of its own) and saw nothing else.
    assert.equal(await m.command('send', { pid, message: { mine: true } }), true);
    await m.until('the app to receive its own message', () => m.appLines.filter((l) => l.app === 'message').length === 2);
    assert.deepEqual(m.appLines.filter((l) => l.app === 'message').map((l) => [l.via, l.message]).sort(), [['cluster.worker', { mine: true }], ['process', { mine: true }]]);
    assert.equal(m.count('worker:message'), 0, 'replies never surface as worker:message');
  });

  it('a worker that exits mid-request fails the request at once, not at its timeout; gather reports it per worker', async () => {
    const { m } = await master({ options: { workers: 2 }, inlinePlugins: [echo()] }, {}, cleanups);
    const started = await m.started();
    const pid = started.workers[0].pid;
    const asked = Date.now();
    await rejectsWith(m.command('request', { pid, plugin: 'echo', type: 'exit', options: { timeout: '120s' } }), 'MP_ERR_WORKER_EXIT', new RegExp(`worker ${pid} (disconnected|exited) before it answered plugin "echo" request "exit"`));
    assert.ok(Date.now() - asked < 60_000, 'failed long before its 120 s timeout');
    await m.waitFor('worker:ready', (e) => e.args![0].reason === 'crash');
    const replies = await m.command('gather', { plugin: 'echo', type: 'exit', options: { timeout: '120s' } });
    assert.equal(replies.length, 2);
    for (const reply of replies) assert.equal(reply.ok === false && reply.error.code, 'MP_ERR_WORKER_EXIT');
  });

  it('a worker half speaks first with send(): plugin:message on the master; beforeDisconnect runs after the drain and its last message arrives before disconnect and exit', async () => {
    const { m } = await master({ options: { workers: 2 }, inlinePlugins: [echo({ workerOptions: { lastWords: true } })] }, { APP_LOG_MESSAGES: '1' }, cleanups);
    const started = await m.started();
    const pid = started.workers[0].pid;
    assert.deepEqual(await m.command('request', { pid, plugin: 'echo', type: 'push', payload: { n: 2 } }), { sent: true });
    const pushed = await m.waitFor('plugin:message');
    assert.equal(pushed.args![0].pid, pid);
    assert.deepEqual(pushed.args![1], { plugin: 'echo', type: 'pushed', payload: { n: 2 } });
    assert.match((await m.command('request', { pid, plugin: 'echo', type: 'push-bigint' })).error, /BigInt/);
    assert.match((await m.command('request', { pid, plugin: 'echo', type: 'push-untyped' })).error, /plugin "echo": send\(type, payload\): type must be a non-empty string; got ""/);
    assert.equal(m.appLines.filter((l) => l.app === 'message').length, 0, 'the app never sees a plugin message');

    const since = m.mark();
    await m.reload();
    for (const old of started.workers) {
      const at = (ev: string, match: (e: any) => boolean) => m.events.findIndex((e, i) => i >= since && e.ev === ev && match(e));
      const last = at('plugin:message', (e) => e.args[1].type === 'last' && e.args[1].payload.pid === old.pid);
      const disconnected = at('cluster:disconnect', (e) => e.pid === old.pid);
      const exited = at('worker:exit', (e) => e.args[0].pid === old.pid);
      assert.ok(last >= 0, `worker ${old.pid} said its last words`);
      assert.ok(last < disconnected && disconnected < exited, `last words (${last}), then disconnect (${disconnected}), then exit (${exited}) for ${old.pid}`);
      assert.equal(m.events[last]!.args![0].pid, old.pid);
    }
  });

  it('a worker half that throws when loaded is refused by createMaster, naming the plugin: nothing is forked', async () => {
    const { m } = await master({ inlinePlugins: [echo({ name: 'native', worker: fixture('throwing-worker.cjs') })] }, {}, cleanups);
    const failed = await m.waitFor('create-failed');
    assert.equal(failed.error.code, 'MP_ERR_PLUGIN_WORKER');
    assert.match(failed.error.message, /Plugin "native": its worker half .*throwing-worker\.cjs threw when loaded: the worker half cannot load: missing native binding/);
    assert.equal((await m.exited).code, 3);
    assert.equal(m.count('worker:fork'), 0);
  });

  it('a worker half whose setup throws in the worker fails that fork naming the plugin, before the app runs', async () => {
    const { m } = await master({ options: { workers: 1, crash: { maxCrashes: 1 } }, inlinePlugins: [echo({ name: 'picky', workerOptions: { throwInSetup: true } })] }, {}, cleanups);
    const error = await m.waitFor('plugin:error');
    assert.equal(error.args![0].code, 'MP_ERR_PLUGIN_WORKER');
    assert.match(error.args![0].message, /Plugin "picky" failed in its worker half \(.*echo-worker\.cjs\) in worker \d+ \(slot 0\): echo refuses to set up/);
    assert.equal((await m.exited).code, 1);
    assert.equal(m.count('worker:fork'), 1);
    assert.equal(m.appLines.filter((l) => l.app === 'listening').length, 0, 'the app never ran');
    assert.ok(m.output.some((l) => l.includes('plugin "picky": its worker half') && l.includes('echo refuses to set up')), 'the worker printed the stack');
  });
});
