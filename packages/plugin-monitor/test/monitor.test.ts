import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { runLoad, sleep, tempDir, waitUntil, type MasterHandle } from '@master-process/testkit';
import { get, messagesTo, samplesSince, startMonitored } from './helpers.js';

// Real masters, real workers, real requests. Small grace and interval so a test takes seconds;
// the machine is shared and noisy, so limits keep wide margins and waits are on events.
const FAST = { interval: 200, grace: 0 };
// A fixture worker idles at ~55 MB RSS; /alloc?mb=200 takes it past 250 MB.
const MEMORY = { ...FAST, maxMemoryMB: 150, memoryFailures: 3, maxCpu: 10_000 };

let current: MasterHandle | undefined;
const track = <T extends { handle: MasterHandle }>(started: T): T => ((current = started.handle), started);
afterEach(async () => {
  await current?.cleanup();
  current = undefined;
});

describe('replacing a worker over its limit', () => {
  it('replaces a worker past maxMemoryMB with no failed request from a client looping meanwhile', async () => {
    const { handle, port } = track(await startMonitored({ workers: 2, monitor: MEMORY, env: { DEBUG: 'master-process:monitor' } }));
    const load = runLoad({ target: { port }, connections: 4, keepAlive: true });
    try {
      const faulty = (await get(port, '/alloc?mb=200')).pid as number;
      const replaced = await handle.waitFor('monitor:replaced', (e) => e.args![0].oldPid === faulty);
      const info = replaced.args![0];
      assert.equal(info.reason, 'used too much memory');
      assert.ok(info.memoryMB > 150, `sampled ${info.memoryMB} MB`);
      await handle.waitFor('worker:exit', (e) => e.args![0].pid === faulty);
      // The load keeps running until the new worker answers requests.
      await waitUntil(async () => (await get(port, '/')).pid === info.newPid, 30_000, 'the new worker to answer');
    } finally {
      load.stop();
    }
    const result = await load.done;
    const info = handle.events.find((e) => e.ev === 'monitor:replaced')!.args![0];
    assert.equal(result.failed, 0, `failed requests: ${JSON.stringify(result.failures)} ${JSON.stringify(result.firstFailures)}`);
    assert.ok(result.samples.pid.includes(info.oldPid), 'the load went through the faulty worker');
    assert.ok(result.endedAt > handle.events.find((e) => e.ev === 'worker:exit' && e.args![0].pid === info.oldPid)!.t, 'the load ran until after it exited');
    assert.equal(handle.count('monitor:replaced'), 1, 'the other worker, under its limit, was not replaced');
    // 4.x compatibility: the new worker is told, as a JSON string, whom it replaced and why.
    const told = messagesTo(handle, info.newPid).find((m) => m.msg.msg === 'replace_faulty_worker');
    assert.ok(told, `no replace_faulty_worker message:\n${handle.tail()}`);
    assert.equal(typeof told.raw, 'string');
    assert.deepEqual(told.msg, { msg: 'replace_faulty_worker', reason: 'used too much memory', old_pid: info.oldPid, new_pid: info.newPid });
    const workers = await handle.workers();
    assert.deepEqual(workers.map((w) => w.slot).sort(), [0, 1]);
    // Its sampling stopped when it was retired.
    const retired = handle.events.findIndex((e) => e.ev === 'worker:retire' && e.args![0].pid === info.oldPid);
    assert.ok(retired > 0);
    assert.ok(samplesSince(handle, retired).every((e) => e.args![0].workers.every((w: { pid: number }) => w.pid !== info.oldPid)));
    // Logged with the sampled figures.
    assert.match(handle.output.join('\n'), new RegExp(`master-process:monitor PID/${info.oldPid} \\(slot \\d\\) replaced by PID/${info.newPid}: used too much memory .*memoryMB`));
  });

  it('replaces a busy-looping worker past maxCpu', async () => {
    const dir = tempDir();
    const config = join(dir.path, 'app.json');
    try {
      writeFileSync(config, JSON.stringify({ busyCpu: true })); // ~90% of a core
      const { handle } = track(await startMonitored({
        workers: 1,
        // A low bar: on a busy machine the busy loop gets only its share of a core.
        monitor: { interval: 300, grace: 0, maxCpu: 20, cpuFailures: 3, maxMemoryMB: 4000 },
        env: { APP_CONFIG_FILE: config },
      }));
      const [busy] = await handle.workers();
      writeFileSync(config, JSON.stringify({ busyCpu: false })); // the replacement boots calm
      const replacing = await handle.waitFor('monitor:replacing', (e) => e.args![0].pid === busy!.pid);
      assert.equal(replacing.args![0].resource, 'cpu');
      assert.ok(replacing.args![0].cpu > 20, `sampled ${replacing.args![0].cpu}%`);
      const replaced = await handle.waitFor('monitor:replaced', (e) => e.args![0].oldPid === busy!.pid);
      assert.equal(replaced.args![0].reason, 'used too much cpu');
      await handle.waitFor('worker:exit', (e) => e.args![0].pid === busy!.pid);
      const told = await handle.until('replace_faulty_worker message', () => messagesTo(handle, replaced.args![0].newPid).find((m) => m.msg.msg === 'replace_faulty_worker'));
      assert.equal(told.msg.old_pid, busy!.pid);
    } finally {
      dir.remove();
    }
  });

  it('never replaces a worker under its limits, and samples only after the grace', async () => {
    const grace = 1000;
    const { handle, port } = track(await startMonitored({
      workers: 2,
      monitor: { interval: 200, grace, maxMemoryMB: 1000, maxCpu: 95, memoryFailures: 2, cpuFailures: 3 },
      env: { APP_REQUEST_DELAY: '5' },
    }));
    const load = runLoad({ target: { port }, connections: 2, keepAlive: true });
    try {
      // 15 samples of both workers: 3 s, far more than the 2-3 samples a replace would need.
      await handle.until('15 samples of both workers', () => samplesSince(handle, 0).filter((e) => e.args![0].workers.length === 2).length >= 15);
    } finally {
      load.stop();
    }
    assert.equal((await load.done).failed, 0);
    assert.equal(handle.count('monitor:replacing'), 0);
    assert.equal(handle.count('worker:fork', (e) => e.args![0].reason === 'replace'), 0);
    for (const sample of samplesSince(handle, 0)) {
      for (const w of sample.args![0].workers) assert.ok(w.memoryMB < 1000 && w.memoryFailures === 0, JSON.stringify(w));
    }
    for (const ready of handle.events.filter((e) => e.ev === 'worker:ready')) {
      const { pid, readyAt } = ready.args![0];
      const first = samplesSince(handle, 0).find((e) => e.args![0].workers.some((w: { pid: number }) => w.pid === pid))!;
      assert.ok(first.args![0].at >= readyAt + grace, `PID ${pid} sampled ${first.args![0].at - readyAt} ms after ready, grace ${grace}`);
    }
  });

  it('sends mem_high (a JSON string with the percentage) above 80% of the limit, at most once per sample', async () => {
    const { handle, port } = track(await startMonitored({ workers: 1, monitor: { ...FAST, maxMemoryMB: 150, memoryFailures: 1000 } }));
    const { pid } = await get(port, '/alloc?mb=100'); // ~155 MB: above 80% of 150 MB
    const highs = await handle.until('3 mem_high messages', () => {
      const got = messagesTo(handle, pid).filter((m) => m.msg.msg === 'mem_high');
      return got.length >= 3 && got;
    });
    for (const m of highs) {
      assert.equal(typeof m.raw, 'string');
      assert.ok(m.msg.mem_perc > 80, `mem_perc ${m.msg.mem_perc}`);
    }
    // The worker prints into the master's stdout after the sample line, so this holds at any time.
    const samples = samplesSince(handle, 0).filter((e) => e.args![0].workers.some((w: { pid: number }) => w.pid === pid)).length;
    const sent = messagesTo(handle, pid).filter((m) => m.msg.msg === 'mem_high').length;
    assert.ok(sent <= samples, `${sent} mem_high messages for ${samples} samples`);
    assert.equal(handle.count('monitor:replacing'), 0);
  });
});

describe('pausing', () => {
  /** Paused: no sample, and a worker over its limit is not replaced; resumed: it is. */
  async function pausedThenResumed(handle: MasterHandle, port: number, pause: () => void, resume: () => Promise<void> | void, source: string) {
    const since = handle.mark();
    pause();
    const paused = await handle.waitFor('monitor:paused', () => true, { since });
    assert.equal(paused.args![0].source, source);
    const afterPause = handle.mark();
    const { pid } = await get(port, '/alloc?mb=200');
    await sleep(2000); // ten intervals: no event to wait on for "nothing happens"
    assert.equal(samplesSince(handle, afterPause).length, 0, 'sampled while paused');
    assert.equal(handle.count('monitor:replacing'), 0, 'replaced while paused');
    await resume();
    await handle.waitFor('monitor:resumed', (e) => e.args![0].source === source, { since: afterPause });
    const replaced = await handle.waitFor('monitor:replaced', (e) => e.args![0].oldPid === pid, { since: afterPause });
    assert.equal(replaced.args![0].resource, 'memory');
  }

  it('pauses and resumes on a core event, staying paused while another source holds a pause', async () => {
    const { handle, port } = track(await startMonitored({ workers: 1, monitor: MEMORY }));
    const emit = (event: string, source: string) => void handle.command('emit', { event, args: [{ source, reason: 'test' }] });
    await pausedThenResumed(handle, port, () => {
      emit('monitoring:pause', 'profiler');
      emit('monitoring:pause', 'other');
    }, async () => {
      const since = handle.mark();
      emit('monitoring:resume', 'other');
      await sleep(1000);
      // Still paused by "profiler": nothing was resumed or sampled meanwhile.
      assert.equal(handle.count('monitor:resumed'), 0);
      assert.equal(samplesSince(handle, since).length, 0);
      emit('monitoring:resume', 'profiler');
    }, 'profiler');
    assert.equal(handle.count('monitor:paused'), 1, 'one state change, however many sources');
  });

  it('pauses and resumes on a worker message (JSON string or object)', async () => {
    const { handle, port } = track(await startMonitored({ workers: 1, monitor: MEMORY }));
    const [worker] = await handle.workers();
    // The fixture worker sends {"msg":"pause_monitoring"} as a string, then { msg: 'resume_monitoring' }.
    const toggle = () => {
      process.kill(worker!.pid, 'SIGUSR2');
    };
    await pausedThenResumed(handle, port, toggle, toggle, 'worker');
  });
});

describe('ownership and clean-up', () => {
  it('leaves a worker that died to the crash handling: it is not replaced by the monitor', async () => {
    const { handle } = track(await startMonitored({ workers: 2, monitor: { ...FAST, memoryFailures: 1, cpuFailures: 1 } }));
    const [victim] = await handle.workers();
    process.kill(victim!.pid, 'SIGKILL');
    const restarted = await handle.waitFor('worker:ready', (e) => e.args![0].reason === 'crash');
    await handle.until('5 samples of the restarted worker', () =>
      samplesSince(handle, 0).filter((e) => e.args![0].workers.some((w: { pid: number }) => w.pid === restarted.args![0].pid)).length >= 5);
    assert.equal(handle.count('monitor:replacing', (e) => e.args![0].pid === victim!.pid), 0);
    assert.equal(handle.count('worker:fork', (e) => e.args![0].reason === 'replace'), 0);
    assert.equal((await handle.workers()).length, 2);
  });

  it('a reload that arrives during a replacement ends with exactly the configured workers', async () => {
    const dir = tempDir();
    const config = join(dir.path, 'app.json');
    try {
      writeFileSync(config, JSON.stringify({}));
      const { handle, port } = track(await startMonitored({ workers: 2, monitor: MEMORY, env: { APP_CONFIG_FILE: config } }));
      writeFileSync(config, JSON.stringify({ bootDelay: 2000 })); // the replacement takes its time
      const { pid } = await get(port, '/alloc?mb=200');
      await handle.waitFor('worker:fork', (e) => e.args![0].reason === 'replace');
      const reloaded = await handle.command('reload');
      assert.equal(reloaded.generation, 1);
      await handle.waitFor('monitor:replaced', (e) => e.args![0].oldPid === pid);
      await handle.waitFor('worker:exit', (e) => e.args![0].pid === pid);
      const workers = await handle.workers();
      assert.deepEqual(workers.map((w: { slot: number }) => w.slot).sort(), [0, 1], JSON.stringify(workers));
      assert.ok(workers.every((w: { generation: number; state: string }) => w.generation === 1 && w.state === 'ready'), JSON.stringify(workers));
      assert.equal(handle.count('worker:fork', (e) => e.args![0].reason === 'replace'), 1, 'one replacement, not two');
    } finally {
      dir.remove();
    }
  });

  it('leaves no timer after stop(): the master process exits by itself', async () => {
    const { handle } = track(await startMonitored({ workers: 2, monitor: FAST, options: { exitProcess: false } }));
    await handle.until('samples of both workers', () => samplesSince(handle, 0).some((e) => e.args![0].workers.length === 2));
    handle.signal('SIGTERM');
    await handle.waitFor('master:stopped');
    const exit = await Promise.race([handle.exited, sleep(30_000).then(() => 'still running 30 s after master:stopped')]);
    assert.deepEqual(exit, { code: 0, signal: null });
  });

  it('fails clearly at plugin creation on a bad option', async () => {
    const { startMaster } = await import('@master-process/testkit');
    const { packageDir } = await import('./helpers.js');
    const handle = startMaster({ plugins: [{ package: '@master-process/plugin-monitor', export: 'monitor', options: { cpuFailures: 0 } }] }, { cwd: packageDir });
    current = handle;
    const exit = await handle.exited;
    assert.notEqual(exit.code, 0);
    assert.match(handle.output.join('\n'), /invalid option `cpuFailures`: got 0\. Accepted: an integer >= 1/);
  });
});
