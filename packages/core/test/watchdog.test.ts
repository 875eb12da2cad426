// The watchdog: one reaper process per master that, if the master dies, SIGKILLs the master's workers still
// running at the end of the grace (the kill timeout), blocked event loop or not (see orphans.test.ts for the
// workers' side). Real masters, real workers, real signals; every wait is on an event or
// bounded generously (no timing is asserted).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, it } from 'node:test';
import { isAlive, sleep, waitUntil, within } from '@master-process/testkit';
import { childrenOf, coreDir, get, master } from './helpers.js';

const holdLoop = fileURLToPath(new URL('./fixtures/hold-loop.mjs', import.meta.url));
const ownerScript = fileURLToPath(new URL('./fixtures/watchdog-owner.ts', import.meta.url));

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

const commandOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');

function kill(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* gone */
  }
}

/** A process that just sleeps, killed by pid at the end of the test. */
function sleeper(): number {
  const child = spawn('sleep', ['300'], { stdio: 'ignore' });
  cleanups.push(async () => kill(child.pid!));
  return child.pid!;
}

const gone = (pids: number[], what: string) => waitUntil(() => pids.every((pid) => !isAlive(pid)), 20_000, what);

/** The non-worker children of a master: its reaper(s). */
const reapersOf = (m: { pid: number; pids: Set<number> }) => childrenOf(m.pid).filter((pid) => !m.pids.has(pid));

/** Block the event loop of the one worker of a master started on `port`; resolves with its pid once it is blocked. */
async function blockWorker(m: Awaited<ReturnType<typeof master>>['m'], port: number): Promise<number> {
  await get(port, '/block');
  const line = await m.until('the worker to block its loop', () => m.appLines.find((l) => l.app === 'block'));
  await sleep(300); // the app starts its endless loop 10 ms after it answers
  return line.pid;
}

describe('watchdog: one reaper per master', () => {
  it('a master SIGKILLed while its worker\'s event loop is blocked: the worker is killed, and the reaper leaves', async () => {
    const { m, port } = await master({ options: { workers: 1, killTimeout: '2s' } }, {}, cleanups);
    await m.started();
    const reapers = reapersOf(m);
    assert.equal(reapers.length, 1, `one reaper beside the worker: ${childrenOf(m.pid).map(commandOf).join(' | ')}`);
    assert.match(commandOf(reapers[0]!), /master-process watchdog/);
    const blocked = await blockWorker(m, port);
    kill(m.pid);
    await m.exited;
    await gone([blocked], 'the blocked worker to be killed');
    await gone(reapers, 'the reaper to exit');
  });

  it('no reaper is left after a graceful stop, even while the master process still runs', async () => {
    const { m } = await master({ options: { workers: 2, exitProcess: false }, inlinePlugins: [holdLoop] }, {}, cleanups);
    await m.started();
    const reapers = reapersOf(m);
    assert.equal(reapers.length, 1);
    await m.command('stop');
    await m.waitFor('master:stopped');
    await gone(reapers, 'the reaper to exit after stop()');
    assert.ok(isAlive(m.pid), 'the master process still runs (the plugin holds its loop): stop() itself closed the reaper');
    assert.deepEqual(childrenOf(m.pid), [], 'no child of the master is left');
  });

  it('with watchdog: false the master has no child but its workers', async () => {
    const { m } = await master({ options: { workers: 2, watchdog: false } }, {}, cleanups);
    const started = await m.started();
    const workers = started.workers.map((w: { pid: number }) => w.pid).sort();
    assert.deepEqual(childrenOf(m.pid).sort(), workers);
  });

  it('a reaper killed by someone else is replaced, and the new one knows every worker', async () => {
    const { m, port } = await master({ options: { workers: 1, killTimeout: '2s' } }, {}, cleanups);
    await m.started();
    const [first] = reapersOf(m);
    assert.ok(first);
    await sleep(1200); // a reaper that dies at once is not restarted (it cannot run here); this one lived
    kill(first);
    const second = (await waitUntil(() => reapersOf(m).find((pid) => pid !== first), 20_000, 'a new reaper'))!;
    const blocked = await blockWorker(m, port);
    kill(m.pid);
    await m.exited;
    await gone([blocked], 'the blocked worker to be killed by the new reaper');
    await gone([second], 'the new reaper to exit');
  });
});

/** A stand-in master (test/fixtures/watchdog-owner.ts) running the Watchdog class with `shell` and a 1 s grace. */
function owner(shell?: string) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', ownerScript, '1000', ...(shell ? [shell] : [])], { cwd: coreDir, stdio: ['pipe', 'pipe', 'inherit'] });
  cleanups.push(async () => kill(child.pid!));
  const lines: any[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(JSON.parse(line));
    for (const wake of waiters.splice(0)) wake();
  });
  const next = async <T>(find: () => T | undefined): Promise<T> => {
    for (;;) {
      const found = find();
      if (found !== undefined) return found;
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 250).unref();
      });
      if (child.exitCode !== null || child.signalCode !== null) {
        const last = find();
        if (last === undefined) throw new Error('the watchdog owner exited');
        return last;
      }
    }
  };
  return {
    child,
    exited: new Promise<void>((resolve) => child.once('exit', () => resolve())),
    reaper: () => next(() => lines.find((l) => 'reaper' in l)?.reaper as number | undefined),
    async send(line: string) {
      child.stdin!.write(`${line}\n`);
      await next(() => lines.find((l) => l.done === line));
    },
  };
}

for (const [name, shell] of [['/bin/sh', undefined], ['Node, where there is no shell', '/nonexistent/sh']] as const) {
  describe(`watchdog reaper (${name})`, () => {
    it('kills the pids still watched after the grace when its owner dies, and not one it was told has exited', async () => {
      const o = owner(shell);
      const reaper = await o.reaper();
      assert.ok(reaper > 0);
      if (shell) assert.match(commandOf(reaper), new RegExp(`^${process.execPath}`));
      else assert.match(commandOf(reaper), /^\/bin\/sh -c # master-process watchdog/);
      const [a, b, c] = [sleeper(), sleeper(), sleeper()];
      for (const line of [`+${a}`, `+${b}`, `+${c}`, `-${b}`]) await o.send(line);
      kill(o.child.pid!);
      await gone([a!, c!, reaper], 'the watched pids and the reaper to be gone');
      assert.ok(isAlive(b!), 'an unwatched pid is left alone');
    });

    it('close() ends the reaper at once, with nothing killed; an owner with nothing else to do then exits', async () => {
      const o = owner(shell);
      const reaper = await o.reaper();
      const spared = sleeper();
      for (const line of [`+${spared}`, `-${spared}`, 'close']) await o.send(line);
      await gone([reaper], 'the reaper to exit on close()');
      assert.ok(isAlive(o.child.pid!), 'the owner still runs (its stdin is open)');
      assert.ok(isAlive(spared), 'nothing was killed');
      o.child.stdin!.end();
      assert.notEqual(await within(o.exited.then(() => true), 20_000), undefined, 'the owner exited by itself');
    });

    it('never holds its owner\'s event loop: an owner that never closes it still exits, and the reaper follows', async () => {
      const o = owner(shell);
      const reaper = await o.reaper();
      o.child.stdin!.end(); // the owner's last handle: the watchdog alone must not keep it alive
      assert.notEqual(await within(o.exited.then(() => true), 20_000), undefined, 'the owner exited by itself');
      await gone([reaper], 'the reaper to exit once its owner is gone');
    });
  });
}
