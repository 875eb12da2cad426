import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fixtures, tempDir } from '@master-process/testkit';
import { get, master } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

describe('the worker side', () => {
  it('readyOn "message": a worker is ready when the app calls ready(); one that only listens never is', async () => {
    const dir = tempDir();
    cleanups.push(async () => dir.remove());
    const config = join(dir.path, 'app.json');
    writeFileSync(config, JSON.stringify({ readyMessage: true }));
    const { m, port } = await master({ options: { workers: 1, readyOn: 'message', readyTimeout: 6000 } }, { APP_CONFIG_FILE: config }, cleanups);
    const started = await m.started();
    assert.equal(started.workers[0].state, 'ready');
    // The next version listens but never calls ready(): listening alone must not count.
    writeFileSync(config, JSON.stringify({ readyMessage: false }));
    await assert.rejects(m.command('reload'), /not ready within 6000 ms.*ready\(\) from @master-process\/core\/worker/s);
    const listened = m.events.filter((e) => e.ev === 'worker:listening').map((e) => e.args![0].pid);
    assert.equal(listened.length, 2, 'the new worker did listen');
    assert.equal((await get(port)).pid, started.workers[0].pid, 'the old worker still serves');
  });

  it('onShutdown handlers run when a worker is retired, after it drained', async () => {
    const { m } = await master({ options: { workers: 1 } }, { APP_USE_HELPER: '1' }, cleanups);
    const started = await m.started();
    const old = started.workers[0].pid;
    await m.command('reload');
    await m.until('the old worker to run its shutdown handler', () => m.appLines.find((l) => l.app === 'shutdown' && l.pid === old));
    const exit = await m.waitFor('worker:exit', (e) => e.args![0].pid === old);
    assert.equal(exit.args![1].code, 0);
  });

  it('a request in flight when its worker is retired is answered by that worker', async () => {
    // The plain app announces the request when it arrives; its answer comes 6 s later, so the new
    // generation has that long to become ready and the old worker to be retired meanwhile.
    const { m, port } = await master({ options: { exec: fixtures.plainApp, workers: 1, killTimeout: '20s' } }, {}, cleanups);
    const started = await m.started();
    const old = started.workers[0].pid;
    const answer = new Promise<{ status: number; body: string; connection?: string }>((resolve, reject) => {
      const agent = new http.Agent({ keepAlive: true });
      http.get({ host: '127.0.0.1', port, path: '/slow?ms=6000', agent }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, connection: res.headers.connection }));
      }).on('error', reject);
    });
    await m.until('the request to reach the worker', () => m.appLines.find((l) => l.app === 'slow' && l.pid === old));
    const reload = m.command('reload');
    const res = await answer;
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).pid, old);
    assert.equal(res.connection, 'close', 'a draining worker tells keep-alive clients to go');
    await reload;
  });
});
