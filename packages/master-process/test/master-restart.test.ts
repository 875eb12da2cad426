// Even a restart of the master refuses no connection when systemd holds the listening socket: a .socket
// unit with Restart=always, stood in for by systemd-socket-activate and testkit's socket holder, under load.
import assert from 'node:assert/strict';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  fixtures, freePort, isAlive, runLoad, socketActivationUnavailable, startActivatedMaster, tempDir, waitUntil, type LoadResult, type MasterHandle,
} from '@master-process/testkit';

const cwd = join(import.meta.dirname, '..');
const unavailable = socketActivationUnavailable();
if (unavailable) process.stdout.write(`# skipping the socket activation tests: ${unavailable}\n`);

const CONNECTIONS = 8;

const starts = (handle: MasterHandle) => handle.appLines.filter((l) => l.app === 'holder-start');

/** Pid of the n-th master the holder started (1-based), once it is serving. */
async function nthMaster(handle: MasterHandle, n: number): Promise<number> {
  await handle.until(`master ${n} to be started`, () => handle.events.filter((e) => e.ev === 'started').length >= n, 60_000);
  return starts(handle)[n - 1]!.pid;
}

/** Workers the n-th master forked: those forked after it started and before the next one did. */
function workersOf(handle: MasterHandle, n: number): number[] {
  const from = starts(handle)[n - 1]!.t;
  const to = starts(handle)[n]?.t ?? Infinity;
  return handle.events.filter((e) => e.ev === 'worker:fork' && e.t >= from && e.t < to).map((e) => e.args![0].pid as number);
}

test('5 master restarts on an activated socket under load (SIGTERM, version guard exit 1, SIGKILL) with 300 ms requests in flight: 0 refused, 0 failed; a rolling reload on it too', { skip: unavailable }, async () => {
  const dir = tempDir('mp-restart-');
  const manifest = join(dir.path, 'node_modules', 'fake-guarded', 'package.json');
  mkdirSync(join(manifest, '..'), { recursive: true });
  const version = (v: string) => writeFileSync(manifest, JSON.stringify({ name: 'fake-guarded', version: v }));
  version('1.0.0');
  const port = await freePort();
  const handle = await startActivatedMaster(
    {
      options: { exec: fixtures.app, workers: 2, killTimeout: '3s' },
      plugins: [
        { package: '@master-process/plugin-systemd', export: 'systemd' },
        { package: '@master-process/plugin-version-guard', export: 'versionGuard', options: { packages: ['fake-guarded'], cwd: dir.path, on: 'change', settle: 100, interval: 100 } },
      ],
    },
    { cwd, listen: `127.0.0.1:${port}`, env: { APP_REQUEST_DELAY: '5' } },
  );
  const loads: { done: Promise<LoadResult>; stop: () => void }[] = [];
  try {
    // The first connections start the holder (systemd-socket-activate waits for one) and wait in the backlog.
    for (const keepAlive of [true, false]) loads.push(runLoad({ target: { port }, connections: CONNECTIONS / 2, keepAlive, durationMs: 110_000, keepFailures: 1000 }));
    // Slow requests too: some are in flight at every restart, the SIGKILL included.
    loads.push(runLoad({ target: { port, path: '/slow?ms=300' }, connections: 4, keepAlive: true, durationMs: 110_000, keepFailures: 1000 }));
    let master = await nthMaster(handle, 1);

    // 1: a plain restart (systemctl restart: SIGTERM, graceful stop, exit 0).
    process.kill(master, 'SIGTERM');
    master = await nthMaster(handle, 2);
    // A rolling reload on the activated socket, while we are at it.
    const since = handle.mark();
    process.kill(master, 'SIGHUP');
    await handle.waitFor('reload:done', () => true, { since });
    // 2: the version guard sees an upgrade and exits 1.
    version('1.0.1');
    master = await nthMaster(handle, 3);
    // 3: the master is killed (OOM killer): its workers, orphans now, finish what they accepted, then exit.
    const doomed = workersOf(handle, 3);
    const killedAt = Date.now();
    process.kill(master, 'SIGKILL');
    await waitUntil(() => doomed.every((pid) => !isAlive(pid)), 20_000, 'the killed master\'s workers to be gone');
    master = await nthMaster(handle, 4);
    // 4 and 5: a plain restart, then the version guard again.
    process.kill(master, 'SIGTERM');
    master = await nthMaster(handle, 5);
    version('1.0.2');
    master = await nthMaster(handle, 6);
    await handle.until('the last master\'s workers to serve', () => handle.events.filter((e) => e.ev === 'worker:ready').length >= 6 * 2 + 2);

    for (const load of loads) load.stop();
    const results = await Promise.all(loads.map((l) => l.done));
    const exits = handle.appLines.filter((l) => l.app === 'holder-exit').map((l) => l.signal ?? l.code);
    assert.deepEqual(exits, [0, 1, 'SIGKILL', 0, 1], 'how each master ended');
    const served = results.reduce((sum, r) => sum + r.ok, 0);
    const failures = results.flatMap((r) => r.firstFailures);
    process.stdout.write(`# ${served} served, failures: ${JSON.stringify(failures.map((f) => f.kind))}\n`);
    assert.ok(served > 0);
    assert.equal(failures.filter((f) => f.kind === 'ECONNREFUSED').length, 0, 'no connection was refused, not even while no master ran');
    // Not one failure, the SIGKILL included: the orphaned workers stopped accepting (the next connections waited
    // in the backlog for the next master) and answered what they had accepted (the core's orphan grace).
    assert.deepEqual(failures, [], 'no request failed');
    const orphansAnswered = results.flatMap((r) => r.samples.end.filter((end, i) => end > killedAt && doomed.includes(r.samples.pid[i]!)));
    assert.ok(orphansAnswered.length > 0, 'the killed master\'s workers answered requests after its death');
    // Every master served: the requests were answered by workers of all six.
    const answered = new Set(results.flatMap((r) => r.samples.pid));
    for (let n = 1; n <= 6; n++) assert.ok(workersOf(handle, n).some((w) => answered.has(w)), `master ${n} served requests`);
    handle.signal('SIGTERM');
    assert.equal((await handle.exited).code, 0);
  } finally {
    for (const load of loads) load.stop();
    await Promise.all(loads.map((l) => l.done));
    await handle.cleanup();
    dir.remove();
  }
});

test('init() under a .socket unit with PORT=/path.sock (the 4.x convention): served on systemd\'s socket, which is left in place', { skip: unavailable }, async () => {
  const dir = tempDir('mp-init-sa-');
  const path = join(dir.path, 'app.sock');
  const script = join(import.meta.dirname, 'fixtures', 'init-app.cjs');
  const handle = await startActivatedMaster({}, { cwd, script, listen: path, env: { PORT: path, WORKERS: '2', DEBUG: 'master-process:systemd,master-process:core' } });
  try {
    const ask = () => new Promise<any>((resolve, reject) => {
      http.get({ socketPath: path, path: '/', agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c)).on('end', () => resolve(JSON.parse(body)));
      }).on('error', reject);
    });
    assert.equal(typeof (await ask()).pid, 'number');
    await handle.until('the master to run', () => handle.output.some((l) => /master \d+ running/.test(l)));
    assert.ok(handle.output.some((l) => l.includes(`fd 3 ("web"): unix stream socket ${path}, served by every worker`)), handle.tail());
    handle.signal('SIGTERM');
    await handle.exited;
    assert.ok(statSync(path).isSocket(), 'the unix socket plugin stepped aside: the socket is systemd\'s');
  } finally {
    await handle.cleanup();
    dir.remove();
  }
});
