import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isAlive, startMaster, tempDir, waitUntil } from '@master-process/testkit';
import { coreDir, deployable, get, master } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});


describe('crashes', () => {
  it('a crashed worker is replaced in its slot, after the rest of WORKER_THROTTLE', async () => {
    const { m, port } = await master({ options: { workers: 2 } }, { WORKER_THROTTLE: '3s' }, cleanups);
    await m.started();
    const victim = (await get(port, '/crash')).pid ?? undefined;
    const exit = await m.waitFor('worker:exit', (e) => !e.args![1].expected);
    const dead = exit.args![0];
    const delay = await m.waitFor('worker:crash-delay');
    assert.equal(delay.args![0].slot, dead.slot);
    // It lived well under 3 s, so it waits for the rest of those 3 s.
    assert.ok(delay.args![0].delay > 0 && delay.args![0].delay <= 3000, `delay ${delay.args![0].delay}`);
    const fork = await m.waitFor('worker:fork', (e) => e.args![0].reason === 'crash');
    assert.equal(fork.args![0].slot, dead.slot);
    assert.ok(fork.t - exit.t >= delay.args![0].delay - 50, 'the replacement waited for the throttle');
    await m.waitFor('worker:ready', (e) => e.args![0].pid === fork.args![0].pid);
    const workers = await m.workers();
    assert.deepEqual(workers.map((w) => w.slot), [0, 1]);
    assert.ok(!workers.some((w) => w.pid === dead.pid));
    void victim;
  });

  it('a worker killed with SIGKILL (as by the OOM killer) is replaced on the newest generation', async () => {
    const { m } = await master({ options: { workers: 2 } }, { WORKER_THROTTLE: '100ms' }, cleanups);
    await m.started();
    await m.command('reload');
    const [first] = await m.workers();
    process.kill(first!.pid, 'SIGKILL');
    const fork = await m.waitFor('worker:fork', (e) => e.args![0].reason === 'crash');
    assert.equal(fork.args![0].slot, first!.slot);
    assert.equal(fork.args![0].generation, 1, 'the replacement runs the newest generation');
    await m.waitFor('worker:ready', (e) => e.args![0].pid === fork.args![0].pid);
  });

  it('a crash loop stops the master with exit code 1 after crash.maxCrashes forks, backing off between them', async () => {
    const { file, deploy } = deployable(cleanups);
    // A throttle well above a boot's time on a busy machine, so each delay (throttle × 2^k − uptime) shows.
    const { m, port } = await master({ options: { workers: 1, crash: { throttle: 1000, maxCrashes: 4 } } }, { APP_CONFIG_FILE: file }, cleanups);
    await m.started();
    deploy({ boot: 'throw' }); // every replacement now throws at boot
    await get(port, '/crash');
    const { code } = await m.exited;
    assert.equal(code, 1);
    assert.equal(m.count('worker:fork'), 4, 'the number of forks is bounded by maxCrashes');
    const delays = m.events.filter((e) => e.ev === 'worker:crash-delay').map((e) => e.args![0].delay);
    assert.equal(delays.length, 3);
    assert.ok(delays[2] > delays[1], `exponential backoff: ${delays}`);
    assert.ok(m.output.some((l) => /slot 0 crashed 4 times within 60000 ms .*; last: worker \d+ .*exited before it was ready \(code 1, signal null\): fixture app: boot failure/.test(l)), m.tail());
    // Each failed start is printed, whatever DEBUG says.
    assert.equal(m.output.filter((l) => /^master-process: slot 0: worker \d+ .*boot failure \(APP_BOOT=throw\); trying again in \d+ ms \(\d failed start\(s\) in a row/.test(l)).length, 2, m.tail());
    await waitUntil(() => [...m.pids].every((p) => !isAlive(p)), 10_000, 'no worker left');
  });

  it('RESTART_BACKOFF=constant keeps the delay at WORKER_THROTTLE', async () => {
    const { file, deploy } = deployable(cleanups);
    const { m, port } = await master({ options: { workers: 1, crash: { maxCrashes: 3 } } }, { APP_CONFIG_FILE: file, WORKER_THROTTLE: '300ms', RESTART_BACKOFF: 'constant' }, cleanups);
    await m.started();
    deploy({ boot: 'throw' });
    await get(port, '/crash');
    assert.equal((await m.exited).code, 1);
    const delays = m.events.filter((e) => e.ev === 'worker:crash-delay').map((e) => e.args![0].delay);
    assert.equal(delays.length, 2);
    for (const d of delays) assert.ok(d <= 300, `constant backoff: ${delays}`);
  });

  it('replacements that never become ready end in a crash loop too (the ready timeout cannot outrun the crash window), each failure printed', async () => {
    const { file, deploy } = deployable(cleanups);
    const { m, port } = await master(
      { options: { workers: 1, readyTimeout: '5s', crash: { throttle: 0, maxCrashes: 3, window: '100ms' } } },
      { APP_CONFIG_FILE: file },
      cleanups,
    );
    await m.started();
    deploy({ boot: 'never-listen' });
    await get(port, '/crash');
    assert.equal((await m.exited).code, 1, m.tail());
    assert.equal(m.count('worker:fork'), 4, 'the start, then 3 replacements that never listen');
    const printed = m.output.filter((l) => /^master-process: slot 0: worker \d+ .*was not ready within 5000 ms/.test(l));
    assert.equal(printed.length, 2, m.tail());
    assert.ok(m.output.some((l) => /slot 0 failed to start 3 times in a row \(limit crash.maxCrashes=3\)/.test(l)), m.tail());
    await waitUntil(() => [...m.pids].every((p) => !isAlive(p)), 10_000, 'no worker left');
  });

  it('a first start that cannot work fails fast: one fork per slot, one line saying why, exit 1', async () => {
    const { m } = await master({ options: { workers: 2, crash: { maxCrashes: 5 } } }, { APP_BOOT: 'throw' }, cleanups);
    const { code } = await m.exited;
    assert.equal(code, 1);
    assert.equal(m.count('worker:fork'), 2, 'no retry when nothing serves yet');
    const lines = m.output.filter((l) => l.startsWith('master-process: '));
    assert.equal(lines.length, 1, m.tail());
    assert.match(lines[0]!, /the first workers could not start: worker \d+ \(slot \d, generation 0\) exited before it was ready \(code 1, signal null\): fixture app: boot failure \(APP_BOOT=throw\)\. Nothing is serving yet/);
    assert.equal(m.count('worker:crash-delay'), 0);
  });

  it('a first start whose worker never listens fails once its ready timeout passes', async () => {
    const { m } = await master({ options: { workers: 1, readyTimeout: '1s' } }, { APP_BOOT: 'never-listen' }, cleanups);
    assert.equal((await m.exited).code, 1);
    assert.equal(m.count('worker:fork'), 1);
    assert.ok(m.output.some((l) => /^master-process: the first workers could not start: worker \d+ .*was not ready within 1000 ms/.test(l)), m.tail());
  });

  it('crash: "exit" makes any worker crash stop the master with a non-zero code', async () => {
    const { m, port } = await master({ options: { workers: 2, crash: 'exit' } }, {}, cleanups);
    await m.started();
    await get(port, '/crash');
    const { code } = await m.exited;
    assert.equal(code, 1);
    assert.equal(m.count('worker:fork'), 2, 'nothing was re-forked');
    await waitUntil(() => [...m.pids].every((p) => !isAlive(p)), 10_000, 'no worker left');
  });
});

describe('a start that fails, with the README master (top-level await master.start())', () => {
  it('stops gracefully before anything else: the healthy worker drains, onExit runs, exit 1, no unhandled rejection', async () => {
    const dir = tempDir();
    cleanups.push(async () => dir.remove());
    const app = join(dir.path, 'app.mjs');
    // Slot 1 throws at boot; slot 0 is a plain app that serves.
    writeFileSync(app, `import http from 'node:http';
if (process.env.WORKER_INDEX === '1') setTimeout(() => { throw new Error('slot 1 cannot boot'); }, 300);
else {
  const server = http.createServer((req, res) => res.end('ok')).listen(0);
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
`);
    const m = startMaster({}, { cwd: coreDir, script: fileURLToPath(new URL('./fixtures/readme-master.mjs', import.meta.url)), env: { TEST_APP: app } });
    cleanups.push(() => m.cleanup());
    const { code } = await m.exited;
    assert.equal(code, 1, m.tail());
    const hooks = m.output.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((e) => e.ev === 'hook');
    assert.ok(hooks.some((h) => h.hook === 'onExit'), `onExit ran before the process ended\n${m.tail()}`);
    const exits = hooks.filter((h) => h.hook === 'onWorkerExit');
    assert.ok(exits.some((h) => h.code === 0 && h.signal === null), `the healthy worker drained and exited 0, not SIGKILLed\n${m.tail()}`);
    assert.ok(!m.output.some((l) => /Unhandled|unhandled|MasterProcessError: /.test(l)), m.tail());
  });
});
