// Faults 3-6: stuck workers, OOM kills, crash loops and a killed master, while the load client runs.
import http from 'node:http';
import net from 'node:net';
import { sleep, within, type MasterEvent, type MasterHandle } from '@master-process/testkit';
import { census, eventually, KILL_TIMEOUT, settled, since, W, type Fault, type FaultContext } from './faults-kit.js';
import { childrenOf, isRunning } from './proc.js';

/** One request on its own connection; resolves with the body, or the error (never rejects). */
export function get(port: number, path: string, timeout = 10_000): Promise<{ status?: number; body: string; error?: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', (e) => resolve({ body, error: e.message }));
    });
    req.setTimeout(timeout, () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ body: '', error: e.code ?? e.message }));
  });
}

/** Most workers alive at once, from the master's own fork/exit events. */
function peakAlive(h: MasterHandle): number {
  let alive = 0;
  let peak = 0;
  for (const e of h.events) {
    if (e.ev === 'worker:fork') peak = Math.max(peak, ++alive);
    else if (e.ev === 'worker:exit') alive--;
  }
  return peak;
}

const exitOf = (h: MasterHandle, pid: number) => h.events.find((e) => e.ev === 'worker:exit' && e.args?.[0]?.pid === pid);
const retireOf = (h: MasterHandle, pid: number) => h.events.find((e) => e.ev === 'worker:retire' && e.args?.[0]?.pid === pid);
const how = (e?: MasterEvent) => (e ? `${e.args?.[1]?.signal ?? `code ${e.args?.[1]?.code}`}` : 'still alive');

/** Ask on fresh connections until `count` distinct workers took `path` (the app prints `{app: kind}`). */
async function takeWorkers(h: MasterHandle, port: number, path: string, kind: string, count: number): Promise<number[]> {
  const from = h.appLines.length;
  const taken = () => [...new Set(h.appLines.slice(from).filter((l) => l.app === kind).map((l) => l.pid as number))];
  for (let i = 0; i < 12 && taken().length < count; i++) {
    void get(port, path, 60_000);
    await eventually(h, `${kind} #${i}`, () => h.appLines.slice(from).filter((l) => l.app === kind).length > i, 5000);
  }
  return taken();
}

/** Fault 3: old workers that cannot drain (blocked loop, or a long poll and an idle keep-alive socket). */
function stuckOldWorker(id: string, title: string, stick: (ctx: FaultContext, h: MasterHandle) => Promise<{ stuck: number[]; idle?: net.Socket[] }>): Fault {
  return {
    id,
    title,
    expected: `SIGKILLed at the kill timeout (${KILL_TIMEOUT} ms here); old generations never pile up (at most 2×${W} workers alive)`,
    async run(ctx) {
      const h = await ctx.start();
      ctx.load();
      await sleep(300);
      const killedAfter: number[] = [];
      for (let round = 1; round <= 2; round++) {
        const { stuck, idle = [] } = await stick(ctx, h);
        const idleClosed = idle.map((socket) => new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now()))));
        const mark = h.mark();
        h.signal('SIGHUP');
        // A second SIGHUP while the stuck worker waits for its kill: it must wait its turn, not pile up.
        if (round === 2) {
          await h.waitFor('worker:retire', () => true, { since: mark });
          h.signal('SIGHUP');
        }
        await settled(h);
        for (const pid of stuck) {
          const exit = exitOf(h, pid);
          const retire = retireOf(h, pid);
          ctx.check(`round ${round}: stuck old worker ${pid} is SIGKILLed`, exit?.args?.[1]?.signal === 'SIGKILL' && exit.args[1].expected === true, how(exit));
          if (exit && retire) killedAfter.push(exit.t - retire.t);
        }
        if (idle.length) {
          const closedAt = (await within(Promise.all(idleClosed), 5000)) ?? [];
          ctx.check(`round ${round}: the idle keep-alive connection is closed by the drain`, closedAt.length === idle.length);
          for (const socket of idle) socket.destroy();
        }
        ctx.check(`round ${round}: the reload completes`, since(h, mark, 'reload:done').length >= 1 && since(h, mark, 'reload:failed').length === 0);
      }
      const workers = await h.workers();
      const state = await h.command('state');
      ctx.figures.peakWorkers = peakAlive(h);
      ctx.figures.killedAfterMs = killedAfter.join('/');
      ctx.check(`never more than 2×${W} workers alive at once`, peakAlive(h) <= 2 * W, `peak ${peakAlive(h)}`);
      ctx.check(`afterwards ${W} workers of the newest generation, nothing older alive`, workers.length === W && workers.every((w: { generation: number }) => w.generation === state.generation) && census(h).alive.length === W, JSON.stringify(workers));
      ctx.note(`stuck workers SIGKILLed ${ctx.figures.killedAfterMs} ms after retire; peak ${ctx.figures.peakWorkers} workers`);
      await ctx.stopLoad();
      ctx.check('the load client ran', ctx.requests > 0);
      await ctx.audit(h);
    },
  };
}

/** A raw keep-alive connection that made one request and now sits idle. */
function idleKeepAlive(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.once('data', () => resolve(socket));
    socket.on('error', () => {});
    socket.once('close', () => reject(new Error('closed before its answer')));
    socket.setTimeout(10_000, () => socket.destroy());
  });
}

export const workerFaults: Fault[] = [
  stuckOldWorker('3a', 'an old worker with a blocked event loop (while(true))', async (ctx, h) => {
    const stuck = await takeWorkers(h, ctx.port, '/block', 'block', 1);
    ctx.note('requests already queued on the blocked worker fail when it is killed');
    return { stuck };
  }),
  stuckOldWorker('3b', 'old workers holding a long poll and an idle keep-alive connection', async (ctx, h) => {
    const stuck = await takeWorkers(h, ctx.port, '/hold', 'hold', W);
    const idle = [await idleKeepAlive(ctx.port)];
    return { stuck, idle };
  }),
  {
    id: '4',
    title: 'a worker SIGKILLed (as by the OOM killer, no disconnect)',
    expected: 'replaced in its slot, on the newest generation (code and environment)',
    async run(ctx) {
      const h = await ctx.start();
      ctx.load();
      await sleep(300);
      await h.command('reload'); // the newest generation is 1 now: the replacement must not come from generation 0
      const victim = (await h.workers()).find((w: { slot: number }) => w.slot === 0)!;
      const mark = h.mark();
      process.kill(victim.pid, 'SIGKILL');
      const exit = await h.waitFor('worker:exit', (e) => e.args?.[0]?.pid === victim.pid, { since: mark });
      ctx.check('the exit is seen as a crash (not expected)', exit.args?.[1]?.expected === false && exit.args?.[1]?.signal === 'SIGKILL', JSON.stringify(exit.args?.[1]));
      const fork = await h.waitFor('worker:fork', (e) => e.args?.[0]?.slot === 0, { since: mark });
      const ready = await h.waitFor('worker:ready', (e) => e.args?.[0]?.pid === fork.args?.[0]?.pid, { since: mark });
      ctx.figures.replacedAfterMs = ready.t - exit.t;
      ctx.check('the replacement is forked for the crash, in slot 0, generation 1', fork.args?.[0]?.reason === 'crash' && fork.args?.[0]?.generation === 1, JSON.stringify(fork.args?.[0]));
      // What the replacement itself sees in its environment (RELOAD_INDEX), asked over HTTP.
      let seen: { pid: number; env: Record<string, string> } | undefined;
      for (let i = 0; i < 40 && !seen; i++) {
        const res = await get(ctx.port, '/env?names=APP_CONFIG_FILE');
        const body = res.body.startsWith('{') ? JSON.parse(res.body) : undefined;
        if (body?.pid === ready.args?.[0]?.pid) seen = body;
      }
      ctx.check('the replacement runs with the newest generation environment (RELOAD_INDEX=1, WORKER_INDEX=0)', seen?.env?.RELOAD_INDEX === '1' && seen?.env?.WORKER_INDEX === '0', JSON.stringify(seen));
      const workers = await h.workers();
      ctx.check(`${W} workers, all of generation 1`, workers.length === W && workers.every((w: { generation: number }) => w.generation === 1), JSON.stringify(workers));
      await sleep(300);
      await ctx.stopLoad();
      ctx.note(`replaced in ${ctx.figures.replacedAfterMs} ms on generation ${fork.args?.[0]?.generation}; requests in flight on the killed worker fail` +
        (ctx.failures.timeout ? '; a connection handed to the worker as it died was never answered (client timeout, see docs)' : ''));
      ctx.check('the load client ran', ctx.requests > 0);
      await ctx.audit(h);
    },
  },
  {
    id: '5',
    title: 'a worker crashing every 1.5 s',
    expected: 'backoff between restarts; crash.maxCrashes (5) crashes of a slot within crash.window stop the master with exit code 1; forks bounded and reported',
    async run(ctx) {
      const maxCrashes = 5;
      const h = await ctx.start({ options: { exitProcess: true, crash: { throttle: 300, maxDelay: 5000, maxCrashes } }, app: { boot: 'exit-after-ready', exitAfter: 1500 } });
      ctx.load();
      const exit = await within(h.exited, 90_000);
      await ctx.stopLoad();
      const delays = h.events.filter((e) => e.ev === 'worker:crash-delay').map((e) => e.args?.[0] as { slot: number; delay: number; crashes: number });
      const forks = h.count('worker:fork');
      ctx.figures.forks = forks;
      ctx.figures.delays = delays.map((d) => `${d.slot}:${d.delay}`).join(' ');
      ctx.check('the master exits with code 1', exit?.code === 1, JSON.stringify(exit));
      ctx.check('the crash loop is explained on stderr (MP crash-loop message)', h.output.some((l) => /crashed \d+ times within/.test(l)));
      const stopping = h.events.find((e) => e.ev === 'master:stopping');
      ctx.check('it stops with reason "crash loop"', stopping?.args?.[0]?.reason === 'crash loop' && stopping?.args?.[0]?.code === 1, JSON.stringify(stopping?.args));
      ctx.check('backoff applies: later restarts of a slot wait longer', delays.some((d) => d.delay > 0) && [0, 1].every((slot) => {
        const mine = delays.filter((d) => d.slot === slot).map((d) => d.delay);
        return mine.every((d, i) => i === 0 || d >= mine[i - 1]!);
      }), ctx.figures.delays);
      ctx.check(`forks are bounded (≤ ${W}×${maxCrashes})`, forks <= W * maxCrashes, `${forks} forks`);
      ctx.note(`${forks} forks, restart delays (slot:ms) ${ctx.figures.delays}, exit code ${exit?.code}; requests fail while workers crash`);
      await ctx.audit(h, { exitProcess: true });
    },
  },
  {
    id: '6',
    title: 'the master killed with SIGKILL (one worker blocked)',
    expected: 'the free worker answers what it had accepted, then exits; the blocked one is SIGKILLed at the kill timeout; nothing is left; a restarted master starts cleanly',
    async run(ctx) {
      const h = await ctx.start();
      ctx.load();
      // 300 ms requests: some are in flight on the free worker when the master dies.
      ctx.load({ port: ctx.port, path: '/slow?ms=300' }, 4);
      await sleep(300);
      const [blocked] = await takeWorkers(h, ctx.port, '/block', 'block', 1);
      await sleep(500); // the app starts its endless loop 10 ms after it answers
      const pids = [...h.pids];
      const free = pids.filter((pid) => pid !== blocked);
      const reapers = childrenOf(h.pid).filter((pid) => !h.pids.has(pid));
      const killedAt = Date.now();
      process.kill(h.pid, 'SIGKILL');
      await h.exited;
      // Nobody listens any more: what counts is the requests the workers had accepted when the master died.
      const stopping = ctx.stopLoad();
      const goneAt = new Map<number, number>();
      while (goneAt.size < pids.length + reapers.length && Date.now() - killedAt < 30_000) {
        for (const pid of [...pids, ...reapers]) if (!goneAt.has(pid) && !isRunning(pid)) goneAt.set(pid, Date.now() - killedAt);
        await sleep(20);
      }
      const loads = await stopping;
      const left = pids.filter((pid) => !goneAt.has(pid));
      const blockedGoneMs = goneAt.get(blocked!) ?? -1;
      ctx.figures.blockedGoneMs = blockedGoneMs;
      ctx.figures.othersGoneMs = free.map((p) => goneAt.get(p) ?? -1).join('/');
      ctx.figures.reaperGoneMs = reapers.map((p) => goneAt.get(p) ?? -1).join('/');
      const answered = loads.flatMap((r) => r.samples.end.filter((end, i) => end > killedAt && free.includes(r.samples.pid[i]!))).length;
      ctx.figures.answeredAfterKill = answered;
      ctx.check('every worker is gone (the blocked one too)', left.length === 0 && blocked !== undefined, `left: ${left}`);
      ctx.check('the watchdog\'s reaper (one per master) is gone too', reapers.length === 1 && reapers.every((pid) => goneAt.has(pid)), `reapers: ${reapers}`);
      ctx.check('the free worker answered the requests in flight at the kill (the orphan grace)', answered > 0, `${answered}`);
      // The requests that fail are the ones queued on the blocked worker, which the reaper kills at the end of the
      // grace (the kill timeout), and new connections (refused: nobody listens on the port the master bound). None
      // that a worker had accepted fails while the free worker drains.
      const early = loads.flatMap((r) => r.firstFailures).filter((f) => f.kind !== 'ECONNREFUSED' && f.t < killedAt + KILL_TIMEOUT / 2);
      ctx.check('no request fails before the grace is half over (the free worker cut none)', early.length === 0, JSON.stringify(early));
      ctx.check('the blocked worker is killed at the end of the grace, not before', blockedGoneMs >= KILL_TIMEOUT / 2, `${blockedGoneMs} ms`);
      const firstFailed = ctx.failed;
      await ctx.audit(h, { exitProcess: true });

      // A new master on the same port, with the load client again.
      const again = await ctx.start();
      ctx.load();
      await sleep(1500);
      await ctx.stopLoad();
      ctx.check('a restarted master starts and serves on the same port with 0 failed requests', ctx.failed === firstFailed && ctx.loads.at(-1)!.ok > 0, JSON.stringify(ctx.loads.at(-1)!.failures));
      ctx.note(`after the master's death: the free worker answered ${answered} request(s) in flight and left in ${ctx.figures.othersGoneMs} ms; the blocked one was killed by the reaper at the grace's end (${ctx.figures.blockedGoneMs} ms), the reaper left at ${ctx.figures.reaperGoneMs} ms; failed requests are those queued on the blocked worker and new connections after the kill (refused); the restarted master served ${ctx.loads.at(-1)!.ok} with 0 failed`);
      await ctx.audit(again);
    },
  },
];
