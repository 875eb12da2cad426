import assert from 'node:assert/strict';
import http from 'node:http';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { fixtures, freePort, startMaster, tempDir, type MasterEvent, type MasterHandle } from '@master-process/testkit';

const cwd = join(import.meta.dirname, '..');
const LISTEN = ['monitoring:pause', 'monitoring:resume', 'profiler:start', 'profiler:stop'];
let cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const clean of cleanups.reverse()) await clean();
  cleanups = [];
});

async function start(pluginOptions: Record<string, unknown> = {}, { workers = 2, env = {} as Record<string, string> } = {}) {
  const port = await freePort();
  const handle = startMaster(
    {
      options: { exec: fixtures.app, workers },
      // The fixture resolves the package's `require` entry, whose `default` an ESM import does not unwrap: name the export.
      plugins: [{ package: '@master-process/plugin-profiler-signal', export: 'profilerSignal', options: pluginOptions }],
      listen: LISTEN,
    },
    { cwd, env: { PORT: String(port), APP_HANDLE_SIGNALS: 'SIGUSR2', ...env } },
  );
  cleanups.push(() => handle.cleanup());
  await handle.started();
  return { handle, port };
}

const servingPids = async (handle: MasterHandle) => (await handle.workers()).filter((w) => w.state === 'ready').map((w) => w.pid).sort();
const sorted = (pids: number[]) => [...pids].sort();
const signalsOf = (handle: MasterHandle, pid: number, signal = 'SIGUSR2') => handle.appLines.filter((l) => l.app === 'signal' && l.pid === pid && l.signal === signal).length;
const fromUs = (e: MasterEvent) => e.args?.[0]?.source === 'profiler-signal';

/** Send SIGUSR2 to the master and wait for the plugin's `profiler:start`/`profiler:stop` that answers it. */
async function toggle(handle: MasterHandle, expect: 'profiler:start' | 'profiler:stop'): Promise<MasterEvent> {
  const since = handle.mark();
  handle.signal('SIGUSR2');
  return handle.waitFor(expect, () => true, { since });
}

function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d)).on('end', () => resolve({ status: res.statusCode!, body }));
    }).on('error', reject);
  });
}

test('one SIGUSR2 reaches every worker and pauses monitoring; the next resumes it (no monitor installed)', async () => {
  const { handle } = await start();
  const pids = await servingPids(handle);
  assert.equal(pids.length, 2);

  const started = await toggle(handle, 'profiler:start');
  assert.deepEqual(sorted(started.args![0].pids), pids, 'profiler:start lists every serving worker');
  const pause = await handle.waitFor('monitoring:pause', fromUs);
  assert.match(pause.args![0].reason, /profiling/);
  await handle.until('both workers to get SIGUSR2', () => pids.every((pid) => signalsOf(handle, pid) === 1));
  assert.equal(handle.count('monitoring:resume'), 0, 'still paused');

  const stopped = await toggle(handle, 'profiler:stop');
  assert.deepEqual(sorted(stopped.args![0].pids), pids);
  assert.equal(stopped.args![0].reason, 'signal');
  await handle.waitFor('monitoring:resume', fromUs);
  await handle.until('both workers to get the second SIGUSR2', () => pids.every((pid) => signalsOf(handle, pid) === 2));

  assert.equal(handle.count('monitoring:pause'), 1);
  assert.equal(handle.count('worker:exit'), 0, 'no worker died or was replaced');
  assert.deepEqual(await servingPids(handle), pids);
  assert.equal(handle.child.exitCode, null, 'the master is alive');
});

test('options `workers` and `signal`: only the chosen slots get the chosen signal; a missing slot is reported', async () => {
  // The app handles only SIGWINCH: a SIGUSR2 reaching a worker would kill it.
  const { handle } = await start({ workers: [1, 5], signal: 'SIGWINCH' }, { env: { APP_HANDLE_SIGNALS: 'SIGWINCH' } });
  assert.ok(handle.output.some((l) => l.includes('names slot(s) 5, but the master has 2 worker(s)')), 'a slot that does not exist is reported');
  const all = await handle.workers();
  const slot1 = all.find((w) => w.slot === 1)!.pid;
  const slot0 = all.find((w) => w.slot === 0)!.pid;

  const started = await toggle(handle, 'profiler:start');
  assert.deepEqual(started.args![0], { signal: 'SIGWINCH', pids: [slot1] });
  await handle.until('slot 1 to get SIGWINCH', () => signalsOf(handle, slot1, 'SIGWINCH') === 1);
  const stopped = await toggle(handle, 'profiler:stop');
  assert.deepEqual(stopped.args![0].pids, [slot1]);
  await handle.until('slot 1 to get the second SIGWINCH', () => signalsOf(handle, slot1, 'SIGWINCH') === 2);

  assert.equal(signalsOf(handle, slot0, 'SIGWINCH'), 0, 'slot 0 was left alone');
  assert.equal(handle.count('worker:exit'), 0, 'no worker got SIGUSR2 (it would have died)');
});

test('with the worker helper, two signals write one valid .cpuprofile per worker', async () => {
  const dir = tempDir('mp-profiles-');
  cleanups.push(() => dir.remove());
  const { handle, port } = await start({}, { env: { APP_PROFILER: '1', APP_HANDLE_SIGNALS: '', PROFILE_DIR: dir.path } });
  const pids = await servingPids(handle);

  await toggle(handle, 'profiler:start');
  await handle.until('both profiles to start', () => pids.every((pid) => handle.output.some((l) => l.includes(`CPU profile of ${pid} started`))));
  // Work to sample: a few requests that burn CPU in whichever worker takes them.
  for (let i = 0; i < 6; i++) assert.equal((await get(port, '/cpu?ms=30')).status, 200);
  await toggle(handle, 'profiler:stop');

  await handle.until('both profiles to be written', () => pids.every((pid) => handle.output.some((l) => l.includes(`CPU profile of ${pid} written to ${dir.path}`))));
  const files = readdirSync(dir.path).filter((f) => f.endsWith('.cpuprofile'));
  assert.deepEqual(sorted(files.map((f) => Number(/^cpu-(\d+)-/.exec(f)?.[1]))), pids, 'one file per worker, named by pid');
  for (const file of files) {
    const profile = JSON.parse(readFileSync(join(dir.path, file), 'utf8'));
    assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 0, `${file} has nodes`);
    assert.ok(profile.endTime > profile.startTime, `${file} has a time span`);
  }
  assert.equal(handle.count('worker:exit'), 0, 'profiling killed no worker');
  assert.equal((await get(port)).status, 200, 'workers still serve');
});

test('maxPause: a forgotten session resumes monitoring and stops the profiles by itself', async () => {
  const dir = tempDir('mp-profiles-');
  cleanups.push(() => dir.remove());
  const { handle } = await start({ maxPause: '2s' }, { env: { APP_PROFILER: '1', APP_HANDLE_SIGNALS: '', PROFILE_DIR: dir.path } });
  const pids = await servingPids(handle);

  const started = await toggle(handle, 'profiler:start');
  const stopped = await handle.waitFor('profiler:stop', () => true, { since: handle.events.indexOf(started) });
  assert.equal(stopped.args![0].reason, 'timeout');
  assert.deepEqual(sorted(stopped.args![0].pids), pids, 'the same workers are told to stop');
  assert.ok(stopped.t - started.t >= 1_900, `stopped after maxPause, not before (${stopped.t - started.t} ms)`);
  const resume = await handle.waitFor('monitoring:resume', fromUs);
  assert.match(resume.args![0].reason, /maxPause/);
  await handle.until('the profiles written after the timeout', () => pids.every((pid) => handle.output.some((l) => l.includes(`CPU profile of ${pid} written to ${dir.path}`))));
  assert.equal(readdirSync(dir.path).filter((f) => f.endsWith('.cpuprofile')).length, 2);

  // Back to idle: the next SIGUSR2 starts a new session rather than ending one.
  const since = handle.mark();
  await toggle(handle, 'profiler:start');
  await handle.waitFor('monitoring:pause', fromUs, { since });
});

test('a reload during profiling: new workers are not signalled, and the pause lasts until the next SIGUSR2', async () => {
  const { handle } = await start({ maxPause: 0 });
  const old = await servingPids(handle);
  await toggle(handle, 'profiler:start');
  await handle.until('old workers to get SIGUSR2', () => old.every((pid) => signalsOf(handle, pid) === 1));

  await handle.command('reload');
  const fresh = await servingPids(handle);
  assert.equal(fresh.length, 2);
  assert.ok(fresh.every((pid) => !old.includes(pid)), 'a new generation serves');
  assert.equal(handle.count('monitoring:resume'), 0, 'the reload did not resume monitoring');

  const stopped = await toggle(handle, 'profiler:stop');
  assert.deepEqual(stopped.args![0].pids, [], 'the stop goes only to workers that were told to start (gone now)');
  await handle.waitFor('monitoring:resume', fromUs);

  const again = await toggle(handle, 'profiler:start');
  assert.deepEqual(sorted(again.args![0].pids), fresh);
  await handle.until('new workers to get their first SIGUSR2', () => fresh.every((pid) => signalsOf(handle, pid) >= 1));
  assert.ok(fresh.every((pid) => signalsOf(handle, pid) === 1), 'new workers got only the signal of the new session');
  assert.equal(handle.count('worker:exit', (e) => !e.args?.[1]?.expected), 0, 'no crash');
});

test('a worker still booting is left alone: only serving workers are signalled', async () => {
  const dir = tempDir('mp-config-');
  cleanups.push(() => dir.remove());
  const config = join(dir.path, 'app.json');
  const { handle } = await start({ maxPause: 0 }, { workers: 1, env: { APP_CONFIG_FILE: config } });
  const [serving] = await servingPids(handle);
  // The next generation takes 10 s to listen: long enough to signal the master while it boots.
  writeFileSync(config, JSON.stringify({ bootDelay: 10_000 }));
  const since = handle.mark();
  const reload = handle.command('reload');
  const fork = await handle.waitFor('worker:fork', (e) => e.args?.[0]?.generation === 1, { since });
  const started = await toggle(handle, 'profiler:start');
  assert.deepEqual(started.args![0].pids, [serving], 'the booting worker was not signalled');
  assert.ok(!handle.events.slice(since).some((e) => e.ev === 'worker:ready' && e.args?.[0]?.pid === fork.args![0].pid), 'it was still booting');
  await reload;
  assert.equal(signalsOf(handle, fork.args![0].pid), 0);
});

test('the master never dies of SIGUSR2: it survives many and still serves and reloads', async () => {
  const { handle, port } = await start({ maxPause: 0 });
  for (let round = 0; round < 2; round++) {
    await toggle(handle, 'profiler:start');
    await toggle(handle, 'profiler:stop');
  }
  // A burst, as an impatient operator would send it: signals may merge, none may kill.
  for (let i = 0; i < 5; i++) handle.signal('SIGUSR2');
  await handle.until('the burst to be handled', () => handle.count('profiler:start') + handle.count('profiler:stop') >= 5);

  const result = await handle.command('reload');
  assert.equal(result.generation, 1);
  assert.equal((await get(port)).status, 200);
  assert.equal(handle.child.exitCode, null, 'the master is alive');
  assert.equal(handle.child.signalCode, null);
  assert.equal(handle.count('worker:exit', (e) => !e.args?.[1]?.expected), 0, 'no worker crashed');
});

test('a worker without a SIGUSR2 handler dies of it and is replaced as a crash (the documented caveat)', async () => {
  const { handle, port } = await start({}, { workers: 1, env: { APP_HANDLE_SIGNALS: '' } });
  const [pid] = await servingPids(handle);
  await toggle(handle, 'profiler:start');
  const exit = await handle.waitFor('worker:exit', (e) => e.args?.[0]?.pid === pid);
  const { code, signal, expected } = exit.args![1];
  assert.deepEqual({ code, signal, expected }, { code: null, signal: 'SIGUSR2', expected: false });
  await handle.waitFor('worker:ready', (e) => e.args?.[0]?.pid !== pid && e.args?.[0]?.reason === 'crash');
  assert.equal((await get(port)).status, 200, 'the replacement serves');
  assert.equal(handle.child.exitCode, null, 'the master is alive');
});
