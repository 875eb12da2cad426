// captureStderr: each worker's stderr goes through the master, unchanged and in order, and its tail reaches reports.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { get, master } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

describe('worker stderr through the master', () => {
  it('forwards every line of two busy workers, each in its order, and a crash carries its last lines', async () => {
    const { m, port } = await master({ options: { workers: 2, crash: { throttle: 100 } } }, {}, cleanups);
    const started = await m.started();
    const lines = 20_000; // ~2 MB per worker: far more than a pipe's 64 KiB buffer
    await Promise.all(started.workers.map(() => get(port, `/stderr?lines=${lines}`)));
    const pids = started.workers.map((w: any) => w.pid);
    const seen = new Map<number, number[]>(pids.map((pid: number) => [pid, []]));
    let read = 0;
    await m.until('every stderr line of both workers', () => {
      for (; read < m.output.length; read++) {
        const line = m.output[read]!;
        if (!line.startsWith('stderr ')) continue;
        const match = /^stderr (\d+) (\d+) (\.*)$/.exec(line);
        assert.ok(match, `a line arrived whole: ${JSON.stringify(line.slice(0, 600))}`);
        const i = Number(match[2]);
        assert.equal(match[3]!.length, i % 200, `line ${i} of ${match[1]} arrived whole`);
        seen.get(Number(match[1]))?.push(i);
      }
      return pids.every((pid: number) => seen.get(pid)!.length >= lines);
    }, 60_000);
    for (const pid of pids) assert.deepEqual(seen.get(pid), Array.from({ length: lines }, (_, i) => i), `worker ${pid}: no line lost, none reordered`);

    // A crash: the exit report carries the end of what the worker wrote.
    const victim = (await get(port, '/stderr?lines=3')).pid;
    const since = m.mark();
    await get(port, '/crash').catch(() => {});
    const exit = await m.waitFor('worker:exit', (e) => e.args![1].expected === false, { since });
    const crashed = exit.args![0].pid;
    if (crashed === victim) assert.match(exit.args![1].stderr, new RegExp(`^stderr ${victim} 2 \\.\\.$`, 'm'));
    else assert.match(exit.args![1].stderr, new RegExp(`^stderr ${crashed} ${lines - 1} \\.+$`, 'm'));
    assert.ok(exit.args![1].stderr.split('\n').length <= 30, 'only the last lines are kept');
  });

  it('a burst written just before process.exit() arrives whole: the worker\'s stderr writes block, as to an inherited pipe', async () => {
    const { m, port } = await master({ options: { workers: 1, crash: { throttle: 100 } } }, {}, cleanups);
    const started = await m.started();
    const pid = started.workers[0].pid;
    const lines = 50_000; // ~5 MB in one loop, then exit at once
    await get(port, `/stderr?lines=${lines}&exit=1`).catch(() => {});
    const exit = await m.waitFor('worker:exit', (e) => e.args![0].pid === pid);
    assert.match(exit.args![1].stderr, new RegExp(`^stderr ${pid} ${lines - 1} \\.+$`, 'm'), 'the last line is in the exit report');
    let count = 0;
    for (const line of m.output) if (line.startsWith(`stderr ${pid} `)) count++;
    assert.equal(count, lines, 'every line reached the master stderr');
  });

  it('captureStderr false: workers inherit the master stderr and reports carry none', async () => {
    const { m, port } = await master({ options: { workers: 1, captureStderr: false, crash: { throttle: 100 } } }, {}, cleanups);
    await m.started();
    const { pid } = await get(port, '/stderr?lines=2');
    await m.until('the lines on the shared stderr', () => m.output.includes(`stderr ${pid} 1 .`));
    const since = m.mark();
    await get(port, '/crash').catch(() => {});
    const exit = await m.waitFor('worker:exit', () => true, { since });
    assert.equal(exit.args![1].stderr, undefined);
  });
});
