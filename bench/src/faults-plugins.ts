// Faults 7-9 (and the unix-socket half of 6): misbehaving plugin hooks, and the plugins under stress.
import { mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { isAlive, sleep, within, type MasterHandle } from '@master-process/testkit';
import { answers, eventually, KILL_TIMEOUT, PLUGINS_CWD, settled, since, W, type Fault, type FaultContext } from './faults-kit.js';
import { isRunning } from './proc.js';
import { get } from './faults-workers.js';

const HOOK_TIMEOUT = 1500;

/** Fault 8: the probe plugin throws (or never resolves) in beforeFork, onListening, onSignal and onExit. */
function badHooks(id: string, mode: 'throw' | 'hang'): Fault {
  const code = mode === 'throw' ? 'MP_ERR_PLUGIN_HOOK' : 'MP_ERR_HOOK_TIMEOUT';
  return {
    id,
    title: `a plugin hook that ${mode === 'throw' ? 'throws' : 'never resolves'} (beforeFork, onListening, onSignal, onExit)`,
    expected: `each failure reported (${code}, plugin:error + stderr) naming the plugin; the master keeps serving; stop() finishes within killTimeout + hookTimeout`,
    async run(ctx: FaultContext) {
      const h = await ctx.start({ options: { hookTimeout: HOOK_TIMEOUT } });
      const arm = (hooks: Record<string, string>) => h.command('emit', { event: 'fault:arm', args: [hooks] });
      const reported = (from: number, hook: string) =>
        since(h, from, 'plugin:error').some((e) => e.args?.[0]?.code === code && e.args[0].message.includes('"fault-probe"') && e.args[0].message.includes(`\`${hook}\``));
      const old = (await h.workers()).map((w: { pid: number }) => w.pid).sort();
      ctx.load();
      await sleep(300);

      // SIGHUP: onSignal fails (the reload goes on regardless), then beforeFork refuses the forks → the reload fails.
      await arm({ onSignal: mode, beforeFork: mode });
      let mark = h.mark();
      h.signal('SIGHUP');
      const failed = await h.waitFor('reload:failed', () => true, { since: mark });
      ctx.check('onSignal failure reported with the plugin name', reported(mark, 'onSignal'));
      ctx.check('beforeFork failure reported with the plugin name, and the reload fails', reported(mark, 'beforeFork') && /fault-probe/.test(failed.args?.[0]?.error?.message ?? ''), failed.args?.[0]?.error?.message);
      const printed = await eventually(h, 'the stderr line', () => h.output.some((l) => l.startsWith('master-process: Plugin "fault-probe"')));
      ctx.check('the failure is printed on stderr with the plugin name', printed);
      const serving = (await h.workers()).map((w: { pid: number }) => w.pid).sort();
      ctx.check('the old workers keep serving', JSON.stringify(serving) === JSON.stringify(old), `${old} → ${serving}`);

      // A reload whose new workers' onListening fails: reported, and the reload still completes.
      await arm({ onListening: mode });
      mark = h.mark();
      const reload = await h.command('reload').then((r: { generation: number }) => r, (e: Error) => e);
      ctx.check('onListening failure reported with the plugin name', reported(mark, 'onListening'));
      ctx.check('a reload with a failing onListening still succeeds', !(reload instanceof Error), reload instanceof Error ? reload.message : undefined);

      await sleep(300);
      await ctx.stopLoad();
      ctx.check('the load client ran', ctx.requests > 0);
      ctx.check('0 failed requests', ctx.failed === 0, JSON.stringify(ctx.failures));

      // stop() with an onExit that fails: still finishes, within its bound.
      await arm({ onExit: mode });
      mark = h.mark();
      const began = Date.now();
      h.signal('SIGTERM');
      const stopped = await h.waitFor('master:stopped', () => true, { since: mark, timeout: 60_000 }).catch(() => undefined);
      ctx.figures.stopMs = stopped ? stopped.t - began : -1;
      ctx.check('onExit failure reported with the plugin name', reported(mark, 'onExit'));
      const bound = KILL_TIMEOUT + HOOK_TIMEOUT;
      ctx.check(`stop() finishes (bound: killTimeout ${KILL_TIMEOUT} + hookTimeout ${HOOK_TIMEOUT} ms, checked with 15 s of slack)`, stopped !== undefined && stopped.t - began < bound + 15_000, `stopped after ${ctx.figures.stopMs} ms`);
      ctx.note(`reload refused by beforeFork, old workers kept; stop() took ${ctx.figures.stopMs} ms (bound ${bound} ms)`);
      await ctx.audit(h);
    },
  };
}

const PROFILER_EVENTS = ['profiler:start', 'profiler:stop', 'monitor:paused', 'monitor:resumed', 'monitor:replacing', 'monitor:replaced'];

/** A master with the monitor (tight memory limit, fast samples) and the profiler signal; workers print each SIGUSR2. */
function startProfiled(ctx: FaultContext): Promise<MasterHandle> {
  return ctx.start(
    {
      app: { handleSignals: 'SIGUSR2' },
      plugins: [
        { package: '@master-process/plugin-monitor', export: 'monitor', options: { maxMemoryMB: 160, memoryFailures: 2, cpuFailures: 1000, interval: 200, grace: 0 } },
        { package: '@master-process/plugin-profiler-signal', export: 'profilerSignal', options: { maxPause: 0 } },
      ],
      listen: PROFILER_EVENTS,
    },
    PLUGINS_CWD,
  );
}

/** SIGUSR2 lines the workers printed since `from`, by pid. */
function signalsByPid(h: MasterHandle, from: number): Map<number, number> {
  const counts = new Map<number, number>();
  for (const line of h.appLines.slice(from)) if (line.app === 'signal' && line.signal === 'SIGUSR2') counts.set(line.pid, (counts.get(line.pid) ?? 0) + 1);
  return counts;
}

/** Each worker the profiler names got the signal exactly once (and nobody else got it). */
async function deliveredOnce(ctx: FaultContext, h: MasterHandle, from: number, session: 'start' | 'stop', pids: number[]): Promise<void> {
  const delivered = await eventually(h, `SIGUSR2 to reach ${pids}`, () => pids.every((pid) => signalsByPid(h, from).has(pid) || !isAlive(pid)), 10_000);
  await sleep(300); // a duplicate would show up by now
  const counts = signalsByPid(h, from);
  const extra = [...counts].filter(([pid, n]) => n !== 1 || !pids.includes(pid));
  ctx.check(`${session}: the signal reaches each profiled worker exactly once`, delivered && pids.length > 0 && extra.length === 0, `profiler named ${pids}; received ${JSON.stringify([...counts])}`);
}

const profilerFault = (id: string, title: string, expected: string, scenario: (ctx: FaultContext, h: MasterHandle) => Promise<void>): Fault => ({
  id,
  title,
  expected,
  plugins: ['plugin-monitor', 'plugin-profiler-signal'],
  async run(ctx) {
    const h = await startProfiled(ctx);
    ctx.load();
    await sleep(300);
    await scenario(ctx, h);
    await ctx.stopLoad();
    ctx.check('the load client ran', ctx.requests > 0);
    ctx.check('0 failed requests', ctx.failed === 0, JSON.stringify(ctx.failures));
    ctx.check('no worker crashed', h.events.every((e) => e.ev !== 'worker:exit' || e.args?.[1]?.expected !== false), h.events.filter((e) => e.ev === 'worker:exit').map((e) => JSON.stringify(e.args?.[1])).join(' '));
    await ctx.audit(h);
  },
});

/** Fault 9a: the folder of the unix socket is removed while the master serves on it. */
const socketFolderRemoved: Fault = {
  id: '9a',
  title: "the unix socket's folder removed while running",
  expected: 'the master keeps serving its open connections and does not crash; SIGTERM still stops it cleanly (exit, no plugin error, nothing left); a fresh start in a recreated folder serves',
  plugins: ['plugin-unix-socket'],
  async run(ctx) {
    const folder = join(ctx.dir.path, 'run');
    mkdirSync(folder);
    const path = join(folder, 'app.sock');
    const setup = { socketPath: path, plugins: [{ package: '@master-process/plugin-unix-socket', export: 'unixSocket', options: { path, mode: 0o660 } }] };
    const h = await ctx.start(setup, PLUGINS_CWD);
    ctx.load({ socketPath: path });
    await sleep(500);
    rmSync(folder, { recursive: true, force: true });
    const mark = h.mark();
    await sleep(1500);
    await ctx.stopLoad();
    ctx.check('open keep-alive connections keep being served', ctx.failed === 0 && ctx.loads[0]!.ok > 0, JSON.stringify(ctx.failures));
    const fresh = await answers({ path });
    ctx.note(`after the removal: ${ctx.loads[0]!.ok} requests served on open connections; a new connection ${fresh ? 'still connects' : 'fails (ENOENT): nothing reports it'}`);
    ctx.check('the master is still running', isAlive(h.pid) && (await h.workers()).length === W);
    const began = h.mark();
    await ctx.audit(h, { socketPath: path });
    ctx.check('no plugin error while running or at stop', since(h, mark, 'plugin:error').length === 0, since(h, mark, 'plugin:error').map((e) => e.args?.[0]?.message).join(' | '));
    ctx.check('stop completes', since(h, began, 'master:stopped').length === 1);

    mkdirSync(folder);
    const again = await ctx.start(setup, PLUGINS_CWD);
    ctx.load({ socketPath: path });
    await sleep(800);
    await ctx.stopLoad();
    ctx.check('a new master in the recreated folder serves, 0 failed requests', ctx.loads[1]!.ok > 0 && ctx.loads[1]!.failed === 0, JSON.stringify(ctx.loads[1]!.failures));
    await ctx.audit(again, { socketPath: path });
  },
};

/** Fault 6b: a master on a unix socket killed with SIGKILL leaves a stale socket; the next start removes it, but never a live one. */
const staleSocket: Fault = {
  id: '6b',
  title: 'the master killed with SIGKILL while serving on a unix socket, then restarted',
  expected: 'the stale socket is removed and the new master serves; a socket someone still answers on is left alone and the start is refused',
  plugins: ['plugin-unix-socket'],
  async run(ctx) {
    const path = join(ctx.dir.path, 'app.sock');
    const setup = { socketPath: path, plugins: [{ package: '@master-process/plugin-unix-socket', export: 'unixSocket', options: { path } }] };
    const h = await ctx.start(setup, PLUGINS_CWD);
    ctx.load({ socketPath: path });
    await sleep(500);
    process.kill(h.pid, 'SIGKILL');
    await h.exited;
    await ctx.stopLoad();
    const pids = [...h.pids];
    for (const deadline = Date.now() + 15_000; pids.some(isRunning) && Date.now() < deadline; ) await sleep(100);
    ctx.check('every worker follows the killed master', !pids.some(isRunning), pids.filter(isRunning).join(' '));
    const stale = await answers({ path });
    ctx.check('a stale socket file is left by the killed master (nobody answers on it)', !stale);
    await h.cleanup();

    const again = await ctx.start(setup, PLUGINS_CWD);
    ctx.load({ socketPath: path });
    await sleep(800);
    await ctx.stopLoad();
    const served = ctx.loads.at(-1)!;
    ctx.check('the restarted master removed the stale socket and serves, 0 failed requests', served.ok > 0 && served.failed === 0, JSON.stringify(served.failures));
    await ctx.audit(again, { socketPath: path });

    // Someone else answers on the path: the start must be refused and the socket left in place.
    const squatter = net.createServer((socket) => socket.end());
    await new Promise<void>((resolve) => squatter.listen(path, resolve));
    try {
      const refused = await ctx.start(setup, PLUGINS_CWD).then(() => undefined, (error: Error & { code?: string }) => error);
      ctx.check('a socket with a live server is not removed: start refused (MP_ERR_UNIX_SOCKET_IN_USE)', refused !== undefined && /another process is serving the socket/.test(refused.message), refused?.message ?? 'started');
      ctx.check('the live server still answers on its socket', await answers({ path }));
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    ctx.note('stale socket removed at restart; a live one left alone, start refused');
  },
};

/** Fault 9b: a guarded package's package.json disappears (an install in progress), then comes back. */
const manifestDeleted: Fault = {
  id: '9b',
  title: "the version guard's package.json deleted while running",
  expected: 'a missing package.json is not a version change: the master keeps serving and reloads; when it comes back with a new version the master drains and exits with the guard\'s exit code',
  plugins: ['plugin-version-guard'],
  async run(ctx) {
    const project = join(ctx.dir.path, 'project');
    const pkgDir = join(project, 'node_modules', 'fault-dep');
    mkdirSync(pkgDir, { recursive: true });
    const manifest = join(pkgDir, 'package.json');
    const write = (version: string) => writeFileSync(manifest, JSON.stringify({ name: 'fault-dep', version }));
    write('1.0.0');
    const h = await ctx.start(
      {
        options: { exitProcess: true },
        plugins: [{ package: '@master-process/plugin-version-guard', export: 'versionGuard', options: { cwd: project, packages: ['fault-dep'], settle: 100, interval: 100 } }],
        listen: ['version-guard:changed'],
      },
      PLUGINS_CWD,
    );
    ctx.load();
    await sleep(300);
    unlinkSync(manifest);
    await sleep(800);
    ctx.check('the master keeps running with the package.json gone', isAlive(h.pid) && h.count('master:stopping') === 0);
    const reload = await h.command('reload').then((r: { generation: number }) => r, (e: Error) => e);
    ctx.check('a reload while it is gone succeeds', !(reload instanceof Error), reload instanceof Error ? reload.message : undefined);
    write('1.0.0');
    await sleep(800);
    ctx.check('the same version back is no change', isAlive(h.pid) && h.count('version-guard:changed') === 0 && h.count('master:stopping') === 0);
    unlinkSync(manifest);
    await sleep(500);
    write('2.0.0');
    await settled(h);
    // With the default on: 'next-fork', the master acts at the next fork: a reload.
    h.signal('SIGHUP');
    // From the stop on, the load client only measures the drain: in-flight requests must finish.
    await h.waitFor('master:stopping', () => true, { timeout: 30_000 }).catch(() => undefined);
    await ctx.stopLoad();
    const exit = await within(h.exited, 30_000);
    ctx.check('a new version is seen (version-guard:changed)', h.count('version-guard:changed') >= 1);
    ctx.check("the master then drains and exits with the guard's code 1", exit?.code === 1, JSON.stringify(exit));
    const stopping = h.events.find((e) => e.ev === 'master:stopping');
    ctx.note(`gone for a reload: served on; back as 2.0.0: master stopped (${stopping?.args?.[0]?.reason}) with exit ${exit?.code}`);
    ctx.check('0 failed requests, through the drain', ctx.failed === 0, JSON.stringify(ctx.failures));
    await ctx.audit(h, { exitProcess: true });
  },
};

export const pluginFaults: Fault[] = [
  staleSocket,
  profilerFault('7a', 'SIGUSR2 during a reload', 'no monitor replacement; the signal delivered once per worker; the reload completes', async (ctx, h) => {
    const reload = h.mark();
    h.signal('SIGHUP');
    await h.waitFor('worker:ready', (e) => e.args?.[0]?.generation === 1, { since: reload });
    const mark = h.mark();
    const lines = h.appLines.length;
    h.signal('SIGUSR2');
    const start = await h.waitFor('profiler:start', () => true, { since: mark });
    await deliveredOnce(ctx, h, lines, 'start', start.args?.[0]?.pids ?? []);
    await settled(h);
    ctx.check('the reload completes', h.count('reload:done') === 1 && h.count('reload:failed') === 0);
    const lines2 = h.appLines.length;
    h.signal('SIGUSR2');
    const stop = await h.waitFor('profiler:stop', () => true, { since: mark });
    await deliveredOnce(ctx, h, lines2, 'stop', (stop.args?.[0]?.pids ?? []).filter(isAlive));
    ctx.check('monitoring paused and resumed', since(h, mark, 'monitor:paused').length === 1 && since(h, mark, 'monitor:resumed').length === 1);
    ctx.check('no monitor replacement', h.count('monitor:replacing') === 0);
    const during = start.t < (h.events.find((e) => e.ev === 'reload:done')?.t ?? Infinity);
    ctx.note(`SIGUSR2 reached ${start.args?.[0]?.pids?.length} worker(s) once each, ${during ? 'during' : 'just after (the reload was quicker)'} the reload`);
  }),
  profilerFault('7b', 'a worker doubling its heap while profiling', 'no monitor replacement while profiling; the signal delivered once per worker (and after the session the monitor acts again)', async (ctx, h) => {
    const mark = h.mark();
    const lines = h.appLines.length;
    h.signal('SIGUSR2');
    const start = await h.waitFor('profiler:start', () => true, { since: mark });
    await h.waitFor('monitor:paused', () => true, { since: mark });
    await deliveredOnce(ctx, h, lines, 'start', start.args?.[0]?.pids ?? []);
    // Grow one worker well past maxMemoryMB (160): far more than double its heap.
    const grown = await get(ctx.port, '/alloc?mb=200');
    const big = grown.body.startsWith('{') ? (JSON.parse(grown.body) as { pid: number; rss: number }) : undefined;
    ctx.figures.grownRssMB = big ? Math.round(big.rss / 1048576) : -1;
    await sleep(2000); // 10 samples at 200 ms: 2 over the limit would replace it if monitoring ran
    ctx.check('the grown worker is over the limit', (big?.rss ?? 0) > 160 * 1048576, JSON.stringify(big));
    ctx.check('no monitor replacement while profiling', h.count('monitor:replacing') === 0 && isAlive(big?.pid ?? -1));
    const lines2 = h.appLines.length;
    const resumed = h.mark();
    h.signal('SIGUSR2');
    await h.waitFor('profiler:stop', () => true, { since: resumed });
    await deliveredOnce(ctx, h, lines2, 'stop', start.args?.[0]?.pids ?? []);
    // Control: the same worker is replaced once monitoring resumes, so the pause is what spared it.
    const replaced = await h.waitFor('monitor:replaced', (e) => e.args?.[0]?.oldPid === big?.pid, { since: resumed, timeout: 30_000 }).catch(() => undefined);
    ctx.check('after the session, the monitor replaces the grown worker', replaced !== undefined);
    await settled(h);
    ctx.note(`worker grown to ${ctx.figures.grownRssMB} MB RSS (limit 160) while profiling: kept; replaced after the second SIGUSR2`);
  }),
  badHooks('8a', 'throw'),
  badHooks('8b', 'hang'),
  socketFolderRemoved,
  manifestDeleted,
];
