import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, isAlive, runLoad, startMaster, tempDir, waitUntil, type MasterHandle } from '@master-process/testkit';

const cwd = fileURLToPath(new URL('..', import.meta.url));
const script = fileURLToPath(new URL('./fixtures/init-app.cjs', import.meta.url));
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function init(env: Record<string, string>): MasterHandle {
  const m = startMaster({}, { cwd, script, env: { DEBUG: 'master-process', ...env } });
  cleanups.push(() => m.cleanup());
  return m;
}

function get(target: { port?: number; socketPath?: string }, path = '/env'): Promise<any> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', ...target, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(JSON.parse(body)));
      })
      .on('error', reject);
  });
}

const logged = (m: MasterHandle, pattern: RegExp) => m.until(`a log line ${pattern}`, () => m.output.some((l) => pattern.test(l)));

describe('require("master-process").init(), as in 4.x', () => {
  it('runs the same script as WORKERS workers with WORKER_INDEX, RELOAD_INDEX and PPID; SIGHUP reloads with no failed request; SIGTERM exits 0', async () => {
    const port = await freePort();
    const m = init({ PORT: String(port), WORKERS: '2', MAX_KILL_TIMEOUT: '2s' });
    await logged(m, /master \d+ running/);
    const seen = new Map<string, any>();
    while (seen.size < 2) {
      const answer = await get({ port });
      seen.set(answer.env.WORKER_INDEX, answer.env);
    }
    assert.deepEqual([...seen.keys()].sort(), ['0', '1']);
    for (const env of seen.values()) {
      assert.equal(env.RELOAD_INDEX, '0');
      assert.equal(env.PPID, String(m.pid));
    }
    assert.ok(m.output.some((l) => /killTimeout: 2000/.test(l)), 'MAX_KILL_TIMEOUT was read');
    const load = runLoad({ target: { port }, connections: 16, keepAlive: true });
    cleanups.push(() => load.stop());
    m.signal('SIGHUP');
    await logged(m, /reload 1: done/);
    load.stop();
    const result = await load.done;
    assert.equal(result.failed, 0, JSON.stringify(result.failures));
    assert.equal((await get({ port })).env.RELOAD_INDEX, '1');
    const pids = [...m.pids];
    m.signal('SIGTERM');
    assert.deepEqual(await m.exited, { code: 0, signal: null });
    await waitUntil(() => pids.every((pid) => !isAlive(pid)), 10_000, 'workers gone');
  });

  it('every plugin is on: the version guard, the monitor and the profiler signal log under DEBUG=master-process', async () => {
    const port = await freePort();
    const m = init({ PORT: String(port) });
    await logged(m, /master \d+ running/);
    await logged(m, /master-process:version-guard/);
    m.signal('SIGUSR2'); // handled by the profiler plugin: the master must not die of it
    await logged(m, /master-process:profiler-signal/);
    assert.equal(m.child.exitCode, null);
    m.signal('SIGTERM');
    assert.equal((await m.exited).code, 0);
  });

  it('PORT=/path.sock serves on a unix socket with mode 664, removed at exit', async () => {
    const dir = tempDir();
    cleanups.push(() => dir.remove());
    const socketPath = join(dir.path, 'app.sock');
    const m = init({ PORT: socketPath });
    await logged(m, /master \d+ running/);
    assert.equal((await get({ socketPath })).env.WORKER_INDEX, '0');
    await waitUntil(() => (statSync(socketPath).mode & 0o777) === 0o664, 10_000, 'mode 664');
    m.signal('SIGTERM');
    assert.equal((await m.exited).code, 0);
    assert.equal(existsSync(socketPath), false);
  });

  it('a bad environment variable stops the master with a message naming it', async () => {
    const m = init({ WORKERS: 'abc' });
    const { code } = await m.exited;
    assert.notEqual(code, 0);
    assert.ok(m.output.some((l) => l.includes('invalid environment variable WORKERS: got "abc"')), m.tail());
    assert.equal(m.pids.size, 0, 'no worker was forked');
  });
});
