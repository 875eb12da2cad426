// Retirement of a plain app: nothing but its HTTP server holds its event loop (testkit's plain-app.mjs).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fixtures, tempDir, type MasterHandle } from '@master-process/testkit';
import { master } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

/** A plain app under a real master; `markers()` reads what its clean-up code wrote, by pid. */
async function plainMaster(options: Record<string, unknown>, env: Record<string, string> = {}) {
  const dir = tempDir();
  cleanups.push(async () => dir.remove());
  const file = join(dir.path, 'markers.jsonl');
  const { m, port } = await master({ options: { exec: fixtures.plainApp, ...options } }, { PLAIN_MARKER: file, ...env }, cleanups);
  const markers = (): { pid: number; what: string; t: number }[] =>
    existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  return { m, port, markers };
}

/** Every pid that exited so far, with its exit. */
const exits = (m: MasterHandle) => m.events.filter((e) => e.ev === 'worker:exit').map((e) => ({ pid: e.args![0].pid as number, ...e.args![1] }));

/** Reload, replace slot 0, then stop (SIGTERM to the master): every way a worker is retired. Returns the retired pids. */
async function retireEveryWay(m: MasterHandle): Promise<number[]> {
  await m.started();
  await m.command('reload');
  await m.command('replace', { slot: 0, reason: 'test' });
  m.signal('SIGTERM');
  assert.equal((await m.exited).code, 0);
  return exits(m).map((e) => e.pid);
}

describe('retiring a plain app', () => {
  it("its SIGTERM handler runs to completion in every retired worker: reload, replace(), stop", async () => {
    const { m, markers } = await plainMaster({ workers: 2 });
    const retired = await retireEveryWay(m);
    assert.equal(retired.length, 5, 'two reloaded, one replaced, two stopped');
    const done = markers().filter((k) => k.what === 'sigterm-done').map((k) => k.pid);
    assert.deepEqual([...done].sort(), [...retired].sort(), `SIGTERM clean-up done by every retired pid\n${m.tail()}`);
    for (const exit of exits(m)) assert.deepEqual([exit.code, exit.signal, exit.killed], [0, null, false], `pid ${exit.pid} exited by itself`);
  });

  it('with drain: false and watchdog: false too: the retire protocol is always preloaded', async () => {
    const { m, markers } = await plainMaster({ workers: 1, drain: false, watchdog: false });
    const started = await m.started();
    await m.command('reload');
    const old = started.workers[0].pid;
    assert.ok(markers().some((k) => k.pid === old && k.what === 'sigterm-done'), `SIGTERM clean-up done\n${m.tail()}`);
  });

  it('onShutdown handlers run in every retired worker: reload, replace(), stop', async () => {
    const { m, markers } = await plainMaster({ workers: 2 }, { PLAIN_SHUTDOWN: '1' });
    const retired = await retireEveryWay(m);
    const done = markers().filter((k) => k.what === 'shutdown-done').map((k) => k.pid);
    assert.deepEqual([...done].sort(), [...retired].sort(), `onShutdown ran in every retired pid\n${m.tail()}`);
    for (const exit of exits(m)) assert.deepEqual([exit.code, exit.killed], [0, false]);
  });

  it('an app with no SIGTERM handler exits once drained, without waiting for half the kill timeout', async () => {
    const { m } = await plainMaster({ workers: 2, killTimeout: '40s' }, { PLAIN_SIGTERM: 'none' });
    const started = await m.started();
    const result = await m.command('reload');
    // Held until the SIGTERM fallback, the old workers would last 20 s.
    assert.ok(result.duration < 15_000, `the old workers were gone ${result.duration} ms after the reload began`);
    const old = started.workers.map((w: any) => w.pid);
    for (const exit of exits(m).filter((e) => old.includes(e.pid))) assert.equal(exit.killed, false);
  });

  it('with onShutdown, a request in flight at retirement completes, then the handlers run', async () => {
    // SIGTERM comes at half the kill timeout (3 s), while the 4 s request is still in flight.
    const { m, port, markers } = await plainMaster({ workers: 1, killTimeout: '6s' }, { PLAIN_SHUTDOWN: '1' });
    const started = await m.started();
    const old = started.workers[0].pid;
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/slow?ms=4000', agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      }).on('error', reject);
    });
    await m.until('the slow request to reach the worker', () => m.appLines.find((l) => l.app === 'slow'));
    const reload = m.command('reload');
    const res = await answer;
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).pid, old, 'answered by the retiring worker');
    await reload;
    const shutdown = markers().find((k) => k.pid === old && k.what === 'shutdown-done');
    assert.ok(shutdown, 'onShutdown ran');
    const answered = m.appLines.find((l) => l.pid === old && l.app === 'answered');
    assert.ok(answered && shutdown.t >= answered.t, 'after the request was answered');
    assert.equal(exits(m).find((e) => e.pid === old)?.killed, false);
  });
});
