import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { tempDir, waitUntil } from '@master-process/testkit';
import { handleProfilerSignal } from '../src/worker/index.js';

const helperUrl = pathToFileURL(join(import.meta.dirname, '../src/worker/index.ts')).href;
const dirs: { remove(): void }[] = [];
after(() => dirs.forEach((d) => d.remove()));
const folder = () => {
  const dir = tempDir('mp-profile-');
  dirs.push(dir);
  return dir.path;
};
const profiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));

/** A plain Node process that installs the helper with `setup` (JS source) and keeps running; its output is collected. */
function child(setup: string, env: Record<string, string> = {}) {
  const source = `const helper = await import(${JSON.stringify(helperUrl)});\n${setup}\nsetInterval(() => { const until = Date.now() + 20; while (Date.now() < until); }, 50);\nprocess.stdout.write('up\\n');`;
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  return { proc, exited, output: () => out, waitFor: (text: string) => waitUntil(() => out.includes(text), 30_000, `"${text}" in:\n${out}`) };
}

test('two signals write one .cpuprofile that DevTools can load (nodes, startTime, endTime)', async () => {
  const dir = folder();
  const uninstall = handleProfilerSignal({ dir });
  try {
    process.kill(process.pid, 'SIGUSR2');
    // Let the start go through the inspector, then give the profiler some work to sample.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const until = Date.now() + 300;
    let x = 0;
    while (Date.now() < until) x += Math.sqrt(x + 1);
    process.kill(process.pid, 'SIGUSR2');
    // Parsed as soon as it is complete (a reader may see the file while it is being written).
    const read = () => {
      try {
        return JSON.parse(readFileSync(join(dir, profiles(dir)[0]!), 'utf8'));
      } catch {
        return undefined;
      }
    };
    const profile = await waitUntil(read, 30_000, 'a complete .cpuprofile');
    assert.equal(profiles(dir).length, 1);
    assert.match(profiles(dir)[0]!, new RegExp(`^cpu-${process.pid}-\\d{8}T\\d{6}\\.\\d{3}Z\\.cpuprofile$`));
    assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 1, 'profile has call-tree nodes');
    assert.ok(profile.nodes.some((n: any) => n.callFrame?.functionName === '(root)'));
    assert.ok(Number.isFinite(profile.startTime) && profile.endTime > profile.startTime);
    assert.ok(Array.isArray(profile.samples) && profile.samples.length > 0, 'the busy loop was sampled');
  } finally {
    uninstall();
  }
});

test('PROFILE_DIR is the default folder; two sessions give two files', async () => {
  const dir = folder();
  const worker = child('helper.handleProfilerSignal();', { PROFILE_DIR: dir });
  try {
    await worker.waitFor('up');
    for (let round = 1; round <= 2; round++) {
      worker.proc.kill('SIGUSR2');
      await waitUntil(() => worker.output().split('started;').length > round, 30_000, `profile ${round} to start:\n${worker.output()}`);
      worker.proc.kill('SIGUSR2');
      await waitUntil(() => worker.output().split('written to').length > round, 30_000, `profile ${round} to be written:\n${worker.output()}`);
    }
    assert.equal(profiles(dir).length, 2);
    for (const file of profiles(dir)) assert.ok(Array.isArray(JSON.parse(readFileSync(join(dir, file), 'utf8')).nodes));
    assert.match(worker.output(), new RegExp(`written to ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/cpu-${worker.proc.pid}-`));
    assert.equal(worker.proc.exitCode, null, 'the process is still running');
  } finally {
    worker.proc.kill('SIGKILL');
  }
});

test('a folder that cannot be written: reported on stderr, the process keeps running', async () => {
  const notAFolder = join(folder(), 'file');
  writeFileSync(notAFolder, 'not a folder');
  const worker = child(`helper.handleProfilerSignal({ dir: ${JSON.stringify(notAFolder)} });`);
  try {
    await worker.waitFor('up');
    assert.match(worker.output(), /which is not a folder yet/, 'warned at install');
    worker.proc.kill('SIGUSR2');
    await worker.waitFor('started;');
    worker.proc.kill('SIGUSR2');
    await worker.waitFor('writing failed');
    assert.match(worker.output(), /ENOTDIR/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(worker.proc.exitCode, null, 'the process is still running');
    assert.equal(readFileSync(notAFolder, 'utf8'), 'not a folder', 'nothing of ours was written over it');
  } finally {
    worker.proc.kill('SIGKILL');
  }
});

test('exiting while a profile runs is clean', async () => {
  const worker = child(`helper.handleProfilerSignal({ dir: ${JSON.stringify(folder())} }); process.on('SIGTERM', () => process.exit(0));`);
  try {
    await worker.waitFor('up');
    worker.proc.kill('SIGUSR2');
    await worker.waitFor('started;');
    worker.proc.kill('SIGTERM');
    assert.deepEqual(await worker.exited, { code: 0, signal: null });
    assert.doesNotMatch(worker.output(), /Error|failed/);
  } finally {
    worker.proc.kill('SIGKILL');
  }
});

test('the returned function uninstalls the handler', () => {
  const before = process.listenerCount('SIGUSR1');
  const uninstall = handleProfilerSignal({ signal: 'SIGUSR1', dir: folder() });
  assert.equal(process.listenerCount('SIGUSR1'), before + 1);
  uninstall();
  assert.equal(process.listenerCount('SIGUSR1'), before);
});

test('a bad signal is refused with a clear error', () => {
  for (const signal of ['SIGNOPE', 'SIGKILL', 'usr2', 12]) {
    assert.throws(
      () => handleProfilerSignal({ signal: signal as NodeJS.Signals }),
      (error: any) => error.code === 'MP_ERR_INVALID_OPTION' && error.message.includes('`signal`') && error.message.includes(JSON.stringify(signal)) && error.message.includes('SIGUSR2'),
    );
  }
});
