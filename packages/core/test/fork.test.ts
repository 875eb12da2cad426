import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@master-process/testkit';
import { everySlot, get, master } from './helpers.js';

const forkPlugin = fileURLToPath(new URL('./fixtures/fork-plugin.mjs', import.meta.url));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

describe('what beforeFork may change in a worker', () => {
  it('a variable set to undefined is removed from the worker environment, even one the master inherited', async () => {
    const { m, port } = await master(
      { options: { workers: 1 }, inlinePlugins: [{ module: forkPlugin, options: { remove: ['SECRET_OF_MASTER'] } }] },
      { SECRET_OF_MASTER: 'master only', KEPT: 'everyone' },
      cleanups,
    );
    await m.started();
    const { env } = await get(port, '/env?names=SECRET_OF_MASTER,KEPT');
    assert.equal(env.SECRET_OF_MASTER, undefined);
    assert.equal(env.KEPT, 'everyone');
    await m.command('reload');
    assert.equal((await get(port, '/env?names=SECRET_OF_MASTER')).env.SECRET_OF_MASTER, undefined, 'on every fork');
  });

  it('fds are inherited by every worker as fd 3, 4, ... (and ipc still works)', async () => {
    const dir = tempDir();
    cleanups.push(async () => dir.remove());
    const file = join(dir.path, 'passed.txt');
    writeFileSync(file, 'x');
    const { ino, dev } = statSync(file);
    const { m, port } = await master({ options: { workers: 2 }, inlinePlugins: [{ module: forkPlugin, options: { file } }] }, {}, cleanups);
    await m.started();
    for (const answer of await everySlot(port, 2, '/env?names=PASSED_FD')) assert.equal(answer.env.PASSED_FD, '3');
    const seen = new Set<number>();
    for (let i = 0; i < 50 && seen.size < 2; i++) {
      const { pid, fd } = await get(port, '/fd?n=3');
      assert.deepEqual(fd, { dev, ino, socket: false }, `worker ${pid}: fd 3 is the master's file`);
      seen.add(pid);
    }
    assert.equal(seen.size, 2);
    // A reload forks again with the fds; readiness and retirement (ipc) are unaffected.
    await m.command('reload');
    assert.deepEqual((await get(port, '/fd?n=3')).fd, { dev, ino, socket: false });
    m.signal('SIGTERM');
    assert.equal((await m.exited).code, 0);
  });
});

describe('a worker that listens on its own socket', () => {
  // One worker: a second exclusive listen on the same port would fail with EADDRINUSE.
  it('is ready once it reports listening: cluster does not report an exclusive listen', async () => {
    const { m, port } = await master({ options: { workers: 1, crash: 'exit' } }, { APP_EXCLUSIVE: '1', APP_REPORT_LISTENING: '1' }, cleanups);
    const started = await m.started();
    assert.equal(started.workers[0].state, 'ready');
    const listening = m.events.filter((e) => e.ev === 'worker:listening');
    assert.equal(listening.length, 1);
    assert.equal(listening[0]!.args![1].port, port);
    assert.ok([4, 6].includes(listening[0]!.args![1].addressType));
    assert.equal((await get(port)).pid, started.workers[0].pid);
  });

  it('on retirement its server is drained before the worker disconnects, as cluster does for its own', async () => {
    // An app that does not handle SIGTERM: the drain on disconnect is all that saves a request in flight.
    const { m, port } = await master({ options: { workers: 1, killTimeout: 20_000 } }, { APP_EXCLUSIVE: '1', APP_REPORT_LISTENING: '1', APP_STOP_SIGNALS: ',' }, cleanups);
    await m.started();
    const inFlight = get(port, '/slow?ms=1500');
    await m.until('the request to reach the worker', () => m.appLines.some((l) => l.app === 'slow'));
    m.signal('SIGTERM');
    assert.equal(typeof (await inFlight).pid, 'number', 'the request in flight was answered');
    assert.deepEqual(await m.exited, { code: 0, signal: null });
  });

  it('without the report it is never ready (the reason the report exists)', async () => {
    const { m } = await master({ options: { workers: 1, readyTimeout: 1500, crash: { maxCrashes: 1 } } }, { APP_EXCLUSIVE: '1' }, cleanups);
    await assert.rejects(m.started());
    assert.ok(m.appLines.some((l) => l.app === 'listening'), 'the app did listen');
    assert.equal(m.count('worker:listening'), 0);
    assert.equal(m.events.find((e) => e.ev === 'worker:retire')?.args![1], 'not ready');
  });
});
