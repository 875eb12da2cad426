// Start, reload and stop each process manager the benchmark compares, behind one interface, on the
// same fixture app (`@master-process/testkit` fixtures/app.mjs). Reusable by any driver:
//
//   const manager = await startManager({ kind: 'pm2', workers: 2, port, app: { bootDelay: 0 }, tmp });
//   const reload = await manager.reload();        // { signalAt, reportedAt, ok, oldPids, newPids }
//   const { leftovers } = await manager.stop();    // graceful stop, then every pid it ever had checked
//
// Worker pids come from /proc (children of the manager's root process), the same way for every manager.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtures, sleep, startMaster, within, type MasterEvent, type MasterHandle } from '@master-process/testkit';
import { childrenOf, descendantsOf, survivors, whenGone } from './proc.js';

export const benchDir = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);

export type ManagerKind = 'master-process' | 'pm2' | 'naive';

/** How the fixture app behaves: the same for every manager in one run. */
export interface AppSettings {
  /** ms before `listen` (APP_BOOT_DELAY). */
  bootDelay?: number;
  /** ms before each answer (APP_REQUEST_DELAY). */
  requestDelay?: number;
  /** A JSON file read at boot that overrides the env (APP_CONFIG_FILE): rewrite it to "deploy" new code. */
  configFile?: string;
  /** Apply `drain(server)` and `onShutdown()` from `@master-process/core/worker` explicitly (APP_DRAIN, APP_USE_HELPER). */
  helper?: boolean;
  env?: Record<string, string>;
}

export interface ManagerOptions {
  kind: ManagerKind;
  workers: number;
  port: number;
  app: AppSettings;
  /** The app (default: testkit's fixtures/app.mjs). */
  exec?: string;
  /** Resolves once `workers` distinct workers serve on `port` (default: GET / over HTTP/1.1, see waitServing). */
  serving?: (port: number, workers: number) => Promise<unknown>;
  /** A private temp folder (PM2_HOME lives there). */
  tmp: string;
  /** master-process only: `reload.concurrency` (default: all slots at once). */
  concurrency?: number;
  /** master-process only: load `@master-process/plugin-monitor` with these options. */
  monitor?: Record<string, unknown>;
  /** master-process only: more plugins, as testkit's master spec takes them (a package resolved from bench/, its export, its options). */
  plugins?: { package: string; export?: string; options?: unknown }[];
  /** master-process only: more `createMaster` options (JSON). */
  masterOptions?: Record<string, unknown>;
  /** Print the manager's output. */
  verbose?: boolean;
}

export interface ReloadOutcome {
  /** When the reload was triggered (epoch ms). */
  signalAt: number;
  /**
   * When the manager reported it over: master-process `reload:done`/`reload:failed` (master clock),
   * PM2 the `pm2 reload` command returning, the naive cluster its own `reload:done` line.
   */
  reportedAt: number;
  ok: boolean;
  error?: string;
  /** Workers before the reload. */
  oldPids: number[];
  /** Workers after it that were not there before. */
  newPids: number[];
}

/** A worker's first `listening` (the fixture app's own line, worker clock) or master-process `worker:ready`. */
export interface ReadyMark {
  pid: number;
  slot: number;
  t: number;
}

/**
 * When each step of a worker's life happened (epoch ms, the manager's clock; one machine, one clock), as far
 * as the manager tells: the reload breakdown is made of these.
 */
export interface WorkerTimeline {
  pid: number;
  slot?: number;
  /** `cluster.fork()` returned. */
  fork?: number;
  /** The cluster `online`: the worker's Node process is up and about to load the app. */
  online?: number;
  /** The worker's first `listening`. */
  listening?: number;
  /** master-process: `worker:ready` (its slot may swap now); the others: its `listening`. */
  ready?: number;
  /** The swap, on the old worker: master-process `worker:retire` (out of rotation); naive: killed at the reload's start. */
  retire?: number;
  /** master-process: the cluster `disconnect` of a retiring worker (its servers drained, its IPC channel closed). */
  disconnect?: number;
  exit?: number;
}

export interface Manager {
  readonly kind: ManagerKind;
  /** The process that owns the workers: master, PM2 daemon, cluster primary. */
  readonly rootPid: number;
  /** Running workers now (children of the root). */
  workerPids(): number[];
  reload(): Promise<ReloadOutcome>;
  /**
   * When each worker became ready, by pid: for master-process the master's `worker:ready` (when it
   * starts routing to it and retires the old one), for PM2 and the naive cluster the app's `listening`.
   */
  readyMarks(): Map<number, ReadyMark>;
  /** Every worker's timeline, by pid (empty where the manager tells nothing: PM2). */
  timeline(): Map<number, WorkerTimeline>;
  /** Graceful stop, then checks that no process it ever ran is left (survivors are SIGKILLed by pid). */
  stop(): Promise<{ leftovers: number[] }>;
  /** Workers the manager reported it had to SIGKILL (master-process's `worker:exit` `killed`); undefined when it does not say. */
  killedWorkers?(): number;
}

/** The fixture app's environment, identical for every manager. */
export function appEnv(port: number, app: AppSettings): Record<string, string> {
  return {
    PORT: String(port),
    APP_BOOT_DELAY: String(app.bootDelay ?? 0),
    APP_REQUEST_DELAY: String(app.requestDelay ?? 0),
    // PM2 stops workers with SIGINT, the others with SIGTERM: the app closes its server on either.
    APP_STOP_SIGNALS: 'SIGTERM,SIGINT',
    ...(app.configFile ? { APP_CONFIG_FILE: app.configFile } : {}),
    ...(app.helper ? { APP_DRAIN: '1', APP_USE_HELPER: '1' } : {}),
    ...app.env,
  };
}

/** One GET / with a fresh connection: the pid that answered, or undefined. */
export function probe(port: number, timeout = 2000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? Number(JSON.parse(Buffer.concat(chunks).toString()).pid) : undefined);
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/** Resolves once `workers` distinct pids have answered GET / on `port`; throws after `timeout`. */
export async function waitServing(port: number, workers: number, timeout = 60_000): Promise<number[]> {
  const seen = new Set<number>();
  const deadline = Date.now() + timeout;
  while (seen.size < workers) {
    if (Date.now() > deadline) throw new Error(`port ${port}: ${seen.size} of ${workers} worker(s) answered within ${timeout} ms`);
    const pid = await probe(port);
    if (pid) seen.add(pid);
    else await sleep(50);
  }
  return [...seen];
}

/** Lines of JSON printed by the fixture app (`{app, pid, slot, gen, t}`) found in `lines`. */
function appLinesOf(lines: Iterable<string>): { app: string; pid: number; slot: number; t: number }[] {
  const found = [];
  for (const line of lines) {
    if (!line.startsWith('{"app"')) continue;
    try {
      found.push(JSON.parse(line));
    } catch {
      /* a partial line */
    }
  }
  return found;
}

function listeningMarks(lines: Iterable<string>): Map<number, ReadyMark> {
  const marks = new Map<number, ReadyMark>();
  for (const line of appLinesOf(lines)) if (line.app === 'listening' && !marks.has(line.pid)) marks.set(line.pid, { pid: line.pid, slot: line.slot, t: line.t });
  return marks;
}

export async function startManager(options: ManagerOptions): Promise<Manager> {
  switch (options.kind) {
    case 'master-process':
      return startMasterProcess(options);
    case 'pm2':
      return startPm2(options);
    case 'naive':
      return startNaive(options);
  }
}

// ---- master-process ----------------------------------------------------------------------------

/** Path of `@master-process/plugin-monitor`'s entry, resolved through the umbrella package; undefined until it is built. */
export function monitorEntry(): string | undefined {
  try {
    const umbrella = createRequire(require.resolve('master-process/package.json'));
    const dir = join(umbrella.resolve('@master-process/plugin-monitor/package.json'), '..');
    const entry = join(dir, 'dist', 'index.js');
    return existsSync(entry) ? entry : undefined;
  } catch {
    return undefined;
  }
}

async function startMasterProcess(options: ManagerOptions): Promise<Manager> {
  const { workers, port, app } = options;
  const plugins = [...(options.plugins ?? [])];
  if (options.monitor) {
    const entry = monitorEntry();
    if (!entry) throw new Error('@master-process/plugin-monitor is not built (no dist): build it, or run without the monitor');
    plugins.push({ package: entry, export: 'default', options: options.monitor });
  }
  const handle: MasterHandle = startMaster(
    {
      options: {
        exec: options.exec ?? fixtures.app,
        workers,
        // The helper variant applies the drain itself: turn off the automatic one to show it alone.
        ...(app.helper ? { drain: false } : {}),
        ...(options.concurrency ? { reload: { concurrency: options.concurrency } } : {}),
        ...options.masterOptions,
      },
      plugins,
    },
    { cwd: benchDir, env: appEnv(port, app), verbose: options.verbose },
  );
  try {
    await handle.started(90_000);
    await (options.serving ?? waitServing)(port, workers);
  } catch (error) {
    await handle.cleanup();
    throw error;
  }
  const rootPid = handle.pid;
  // Workers are the children the master forked: with its watchdog on, the master has one more child (the reaper).
  const workerPids = () => childrenOf(rootPid).filter((pid) => handle.pids.has(pid));
  return {
    kind: 'master-process',
    rootPid,
    workerPids,
    async reload() {
      const oldPids = workerPids();
      const since = handle.mark();
      const signalAt = Date.now();
      handle.signal('SIGHUP');
      const end = await handle.until('reload:done or reload:failed', () =>
        handle.events.slice(since).find((e) => e.ev === 'reload:done' || e.ev === 'reload:failed'), 180_000);
      const newPids = workerPids().filter((pid) => !oldPids.includes(pid));
      return { signalAt, reportedAt: end.t, ok: end.ev === 'reload:done', error: end.args?.[0]?.error?.message, oldPids, newPids };
    },
    readyMarks() {
      const marks = new Map<number, ReadyMark>();
      for (const e of handle.events) if (e.ev === 'worker:ready') marks.set(e.args![0].pid, { pid: e.args![0].pid, slot: e.args![0].slot, t: e.t });
      return marks;
    },
    timeline() {
      const steps: Record<string, keyof WorkerTimeline> = {
        'worker:fork': 'fork', 'cluster:online': 'online', 'worker:listening': 'listening', 'worker:ready': 'ready',
        'worker:retire': 'retire', 'cluster:disconnect': 'disconnect', 'worker:exit': 'exit',
      };
      return timelineOf(handle.events, steps, (e) => e.args?.[0] ?? e);
    },
    stop: () => stopHandle(handle),
    killedWorkers: () => handle.count('worker:exit', (e) => e.args?.[1]?.killed === true),
  };
}

/** Timelines from a manager's event lines: `steps` maps an event name to its step; `subject` finds the worker ({pid, slot}) in an event. */
function timelineOf(events: readonly MasterEvent[], steps: Record<string, keyof WorkerTimeline>, subject: (e: MasterEvent) => { pid?: number; slot?: number }): Map<number, WorkerTimeline> {
  const timelines = new Map<number, WorkerTimeline>();
  for (const e of events) {
    const step = steps[e.ev];
    const { pid, slot } = subject(e);
    if (!step || step === 'pid' || step === 'slot' || typeof pid !== 'number') continue;
    const line = timelines.get(pid) ?? { pid };
    line.slot ??= slot;
    line[step] ??= e.t;
    timelines.set(pid, line);
  }
  return timelines;
}

/** SIGTERM, wait for the exit, then every pid the master ever had must be gone (the rest is SIGKILLed). */
async function stopHandle(handle: MasterHandle): Promise<{ leftovers: number[] }> {
  const known = [handle.pid, ...handle.pids, ...descendantsOf(handle.pid)];
  handle.signal('SIGTERM');
  await within(handle.exited, 30_000);
  await whenGone(known, 10_000, 50);
  const leftovers = survivors(known);
  if (leftovers.length > 0) await handle.cleanup();
  return { leftovers };
}

// ---- naive cluster -----------------------------------------------------------------------------

async function startNaive(options: ManagerOptions): Promise<Manager> {
  const { workers, port, app } = options;
  // Its primary prints the same `{"ev", "t", ...}` lines as the fixture master, so the same harness drives it.
  const handle = startMaster({}, {
    cwd: benchDir,
    script: fileURLToPath(new URL('./naive-cluster.cjs', import.meta.url)),
    args: [options.exec ?? fixtures.app, String(workers)],
    env: appEnv(port, app),
    verbose: options.verbose,
  });
  try {
    await handle.waitFor('started', () => true, { timeout: 90_000 });
    await (options.serving ?? waitServing)(port, workers);
  } catch (error) {
    await handle.cleanup();
    throw error;
  }
  const rootPid = handle.pid;
  return {
    kind: 'naive',
    rootPid,
    workerPids: () => childrenOf(rootPid),
    async reload() {
      const oldPids = childrenOf(rootPid);
      const since = handle.mark();
      const signalAt = Date.now();
      handle.signal('SIGHUP');
      const done = await handle.waitFor('reload:done', () => true, { since, timeout: 180_000 });
      const newPids = childrenOf(rootPid).filter((pid) => !oldPids.includes(pid));
      const ok = (done.pids as (number | null)[]).every(Boolean);
      return { signalAt, reportedAt: done.t, ok, ...(ok ? {} : { error: 'a new worker exited before it listened' }), oldPids, newPids };
    },
    readyMarks: () => listeningMarks(handle.output),
    timeline() {
      const lines = timelineOf(handle.events, { 'worker:fork': 'fork', 'cluster:online': 'online', 'worker:listening': 'listening', 'worker:exit': 'exit' }, (e) => e as { pid?: number; slot?: number });
      // It routes to a worker as soon as it listens; it kills every old worker when a reload starts.
      const starts = handle.events.filter((e) => e.ev === 'reload:start').map((e) => e.t);
      for (const line of lines.values()) {
        line.ready = line.listening;
        if (line.listening !== undefined) line.retire = starts.find((t) => t > line.listening!);
      }
      return lines;
    },
    stop: () => stopHandle(handle),
  };
}

// ---- PM2 ---------------------------------------------------------------------------------------

/** Run the PM2 CLI (the version installed in bench/) with a private PM2_HOME; resolves with its exit and output. */
function pm2(home: string, args: string[], env: Record<string, string> = {}, timeout = 120_000): Promise<{ code: number | null; output: string }> {
  const bin = require.resolve('pm2/bin/pm2');
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: benchDir, env: { ...process.env, ...env, PM2_HOME: home }, timeout, maxBuffer: 16 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

async function startPm2(options: ManagerOptions): Promise<Manager> {
  const { workers, port, app, tmp } = options;
  const home = join(tmp, 'pm2-home');
  const say = (text: string) => options.verbose && process.stderr.write(`[pm2] ${text}\n`);
  // PM2's documented defaults: cluster mode, `pm2 reload`, SIGINT then SIGKILL after kill_timeout (1.6 s).
  const started = await pm2(home, ['start', options.exec ?? fixtures.app, '-i', String(workers), '--name', 'bench'], appEnv(port, app));
  say(started.output);
  const pidFile = join(home, 'pm2.pid');
  const rootPid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
  const seen = new Set<number>();
  const remember = () => {
    if (rootPid) for (const pid of childrenOf(rootPid)) seen.add(pid);
    return [...seen];
  };
  const kill = async () => {
    const known = rootPid ? [rootPid, ...remember()] : [];
    const killed = await pm2(home, ['kill'], {}, 60_000);
    say(killed.output);
    await whenGone(known, 10_000, 50);
    const leftovers = survivors(known);
    for (const pid of leftovers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    return leftovers;
  };
  try {
    if (started.code !== 0 || !rootPid) throw new Error(`pm2 start failed (exit ${started.code}):\n${started.output}`);
    await (options.serving ?? waitServing)(port, workers);
  } catch (error) {
    await kill();
    throw error;
  }
  remember();
  const logLines = () => {
    const dir = join(home, 'logs');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((f) => f.includes('-out'))
      .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'));
  };
  return {
    kind: 'pm2',
    rootPid,
    workerPids: () => childrenOf(rootPid),
    async reload() {
      const oldPids = childrenOf(rootPid);
      remember();
      const signalAt = Date.now();
      const result = await pm2(home, ['reload', 'bench']);
      const reportedAt = Date.now();
      say(result.output);
      remember();
      const newPids = childrenOf(rootPid).filter((pid) => !oldPids.includes(pid));
      const ok = result.code === 0;
      return { signalAt, reportedAt, ok, ...(ok ? {} : { error: `pm2 reload exited ${result.code}: ${result.output.trim().split('\n').slice(-3).join(' | ')}` }), oldPids, newPids };
    },
    readyMarks: () => listeningMarks(logLines()),
    timeline: () => new Map(),
    async stop() {
      return { leftovers: await kill() };
    },
  };
}
