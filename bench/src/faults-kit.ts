// The fault suite's toolbox: start a real master on the fixture app with small timeouts, run the shared
// load client against it, record checks, and audit what is left once the master is gone.
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  fixtures, freePort, runLoad, sleep, startMaster, tempDir,
  type LoadResult, type LoadTarget, type MasterEvent, type MasterHandle, type MasterSpec,
} from '@master-process/testkit';
import { childrenOf, isRunning, parentOf } from './proc.js';

/** Where core resolves (the bench package), and where every plugin resolves (the umbrella package). */
export const CORE_CWD = fileURLToPath(new URL('..', import.meta.url));
export const PLUGINS_CWD = fileURLToPath(new URL('../../packages/master-process', import.meta.url));
/** The inline plugin every fault master gets: audits the loop after stop, misbehaves on demand. */
export const PROBE = fileURLToPath(new URL('./faults-probe.mjs', import.meta.url));

/** Small bounds so every fault finishes in seconds; W=2 as the issue asks. */
export const W = 2;
export const KILL_TIMEOUT = 1500;
/** How long a stopped master may take to exit on its own before we call its loop "held". */
const EXIT_GRACE = 8000;

export interface Check {
  what: string;
  ok: boolean;
  detail?: string;
  /** Set when the issue expects this but the code does not do it yet: why, and what it needs. */
  gap?: string;
}

export interface Leftovers {
  /** Pids the master forked (or the master itself) still alive after stop + kill timeout. */
  processes: number[];
  /** Of those, the ones no longer children of the master: `pid<-parent`. */
  orphans: string[];
  /** Listeners still answering (TCP port) or socket files left behind. */
  sockets: string[];
  /** What held the master's event loop after it stopped ('' when it exited on its own; 'n/a' with process.exit). */
  timers: string;
}

export interface FaultReport {
  id: string;
  title: string;
  expected: string;
  requests: number;
  failed: number;
  failures: Record<string, number>;
  /** What happened, in a few words. */
  outcome: string;
  checks: Check[];
  leftovers: Leftovers;
  figures: Record<string, number | string>;
}

export interface Fault {
  id: string;
  title: string;
  /** The expected outcome. */
  expected: string;
  /** Needs these built plugin packages (dist/), resolved from the umbrella package. */
  plugins?: string[];
  run(ctx: FaultContext): Promise<void>;
}

interface MasterSetup {
  options?: Record<string, unknown>;
  env?: Record<string, string>;
  plugins?: MasterSpec['plugins'];
  listen?: string[];
  /** App configuration written to APP_CONFIG_FILE before the start ("the deployed code"). */
  app?: Record<string, unknown>;
  /** Unix socket path the app listens on instead of a TCP port. */
  socketPath?: string;
}

/** One run of one fault: owns its master(s), load clients, temp folder, checks and figures. */
export class FaultContext {
  readonly checks: Check[] = [];
  readonly figures: Record<string, number | string> = {};
  readonly notes: string[] = [];
  readonly dir = tempDir('mp-fault-');
  readonly configFile = join(this.dir.path, 'app.json');
  readonly loads: LoadResult[] = [];
  port = 0;
  leftovers: Leftovers = { processes: [], orphans: [], sockets: [], timers: '' };
  private readonly handles: MasterHandle[] = [];
  private readonly running: { stop: () => void; done: Promise<LoadResult> }[] = [];

  /** Record an outcome check; the test asserts every one that is not a known gap. */
  check(what: string, ok: boolean, detail?: string, gap?: string): boolean {
    this.checks.push({ what, ok, ...(detail ? { detail } : {}), ...(gap ? { gap } : {}) });
    return ok;
  }

  note(text: string): void {
    if (!this.notes.includes(text)) this.notes.push(text);
  }

  /** "Deploy new code": the fixture app reads this file at boot. */
  deploy(app: Record<string, unknown>): void {
    writeFileSync(this.configFile, JSON.stringify(app));
  }

  /** A real master on the fixture app: W workers, small kill/ready timeouts, the probe plugin. */
  async start(setup: MasterSetup = {}, cwd = CORE_CWD): Promise<MasterHandle> {
    if (!this.port && !setup.socketPath) this.port = await freePort();
    this.deploy(setup.app ?? {});
    const spec: MasterSpec = {
      options: {
        exec: fixtures.app,
        workers: W,
        killTimeout: KILL_TIMEOUT,
        readyTimeout: 10_000,
        hookTimeout: 2000,
        crash: { throttle: 300, maxDelay: 5000 },
        exitProcess: false,
        ...setup.options,
        env: { PORT: setup.socketPath ?? String(this.port), APP_CONFIG_FILE: this.configFile, APP_REQUEST_DELAY: '5', ...(setup.options?.env as object) },
      },
      plugins: setup.plugins ?? [],
      inlinePlugins: [PROBE],
      listen: ['fault:resources', ...(setup.listen ?? [])],
    };
    const handle = startMaster(spec, { cwd, env: setup.env });
    this.handles.push(handle);
    await handle.started();
    return handle;
  }

  /** The shared load client (testkit `runLoad`): keep-alive connections looping requests until stopped. */
  load(target: LoadTarget = { port: this.port }, connections = 8) {
    const run = runLoad({ target, connections, keepAlive: true });
    this.running.push(run);
    return run;
  }

  /** Stop every load client; returns the merged result. */
  async stopLoad(): Promise<LoadResult[]> {
    const runs = this.running.splice(0);
    // All at once: a load still running while another one's last requests finish would go on sending.
    for (const run of runs) run.stop();
    this.loads.push(...(await Promise.all(runs.map((run) => run.done))));
    return this.loads;
  }

  get requests(): number {
    return this.loads.reduce((n, r) => n + r.total, 0);
  }

  get failed(): number {
    return this.loads.reduce((n, r) => n + r.failed, 0);
  }

  get failures(): Record<string, number> {
    const all: Record<string, number> = {};
    for (const r of this.loads) for (const [k, v] of Object.entries(r.failures)) all[k] = (all[k] ?? 0) + v;
    return all;
  }

  /**
   * Stop the master (SIGTERM unless it already exited) and audit: every pid it forked gone, no orphan,
   * no listener or socket file left, and (with `exitProcess: false`) the process ended on its own.
   */
  async audit(handle: MasterHandle, options: { socketPath?: string; exitProcess?: boolean } = {}): Promise<void> {
    const gone = () => handle.child.exitCode !== null || handle.child.signalCode !== null;
    // Every child of the master, not only the workers it forked: the watchdog's reaper must go too.
    const children = gone() ? [] : childrenOf(handle.pid);
    if (!gone()) handle.signal('SIGTERM');
    const stoppedBy = Date.now() + KILL_TIMEOUT + 2 * 2000 + EXIT_GRACE + 10_000;
    while (!gone() && Date.now() < stoppedBy) await Promise.race([handle.exited, sleep(200)]);
    const exitedAlone = gone();
    const resources = handle.events.filter((e) => e.ev === 'fault:resources').at(-1)?.args?.[0] as string[] | undefined;
    const timers = options.exitProcess ? 'n/a' : exitedAlone ? '' : `loop held after stop: ${resources?.join(', ') || 'unknown'}`;
    // Workers may outlive a killed master for a moment (until their IPC channel closes, or the reaper kills a blocked one); give them the kill timeout and more.
    const pids = [...new Set([handle.pid, ...handle.pids, ...children])];
    const deadline = Date.now() + KILL_TIMEOUT + 5000;
    while (pids.some(isRunning) && Date.now() < deadline) await sleep(100);
    const processes = pids.filter(isRunning);
    const orphans = processes.filter((pid) => pid !== handle.pid && parentOf(pid) !== handle.pid).map((pid) => `${pid}<-${parentOf(pid)}`);
    const sockets: string[] = [];
    if (options.socketPath && existsSync(options.socketPath)) sockets.push(options.socketPath);
    if (!options.socketPath && this.port && (await answers({ port: this.port }))) sockets.push(`tcp:${this.port}`);
    const add = (into: string[], more: string[]) => into.push(...more.filter((x) => !into.includes(x)));
    this.leftovers.processes.push(...processes.filter((p) => !this.leftovers.processes.includes(p)));
    add(this.leftovers.orphans, orphans);
    add(this.leftovers.sockets, sockets);
    if (timers) this.leftovers.timers = [this.leftovers.timers, timers].filter(Boolean).join('; ');
    this.check('every process the master started (workers, the watchdog\'s reaper) is gone after stop', processes.length === 0, processes.join(' '));
    this.check('no listener or socket file left', sockets.length === 0, sockets.join(' '));
    if (!options.exitProcess) this.check('the stopped master exits on its own (no timer, socket or watcher left)', exitedAlone, timers);
    await handle.cleanup();
  }

  /** Clean up whatever a failed run left: masters, workers, load clients, the temp folder. */
  async dispose(): Promise<void> {
    for (const run of this.running.splice(0)) run.stop();
    await Promise.allSettled(this.handles.map((h) => h.cleanup()));
    this.dir.remove();
  }
}

/** True when something accepts a connection there (a listener left behind, or a live server). */
export function answers(target: { port?: number; path?: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = target.path ? net.connect(target.path) : net.connect(target.port!, '127.0.0.1');
    socket.setTimeout(2000, () => socket.destroy());
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

/** Alive pids among those the master forked, and which of them are no longer its children. */
export function census(handle: MasterHandle): { alive: number[]; orphans: number[] } {
  const alive = [...handle.pids].filter(isRunning);
  return { alive, orphans: alive.filter((pid) => parentOf(pid) !== handle.pid) };
}

/** Wait until no reload runs: every `reload:start` has its `reload:done`/`reload:failed`, twice in a row. */
export async function settled(handle: MasterHandle, timeout = 60_000): Promise<void> {
  const open = () => handle.count('reload:start') - handle.count('reload:done') - handle.count('reload:failed');
  const deadline = Date.now() + timeout;
  for (;;) {
    await handle.until('every reload to finish', () => open() === 0, Math.max(1000, deadline - Date.now()));
    // A coalesced follow-up starts right after the previous reload ends: look again a moment later.
    await sleep(1000);
    if (open() === 0) return;
  }
}

/** Waits (up to `timeout`) for `check` to hold; false instead of a throw, for a check to record. */
export function eventually(handle: MasterHandle, what: string, check: () => unknown, timeout = 15_000): Promise<boolean> {
  return handle.until(what, () => Boolean(check()), timeout).then(() => true, () => false);
}

export const since = (handle: MasterHandle, from: number, ev: string): MasterEvent[] => handle.events.slice(from).filter((e) => e.ev === ev);

/** Run one fault: a fresh context, always disposed; never throws (a crash of the scenario is a failed check). */
export async function runFault(fault: Fault): Promise<FaultReport> {
  const ctx = new FaultContext();
  try {
    await fault.run(ctx);
  } catch (error) {
    ctx.check('the scenario ran to its end', false, (error as Error)?.stack ?? String(error));
  } finally {
    await ctx.stopLoad().catch(() => {});
    await ctx.dispose();
  }
  const failedChecks = ctx.checks.filter((c) => !c.ok && !c.gap);
  const gaps = ctx.checks.filter((c) => !c.ok && c.gap);
  const verdict = failedChecks.length ? `FAILED: ${failedChecks.map((c) => c.what).join('; ')}` : gaps.length ? `DIFFERS from the issue (${gaps.length} of ${ctx.checks.length} checks, a known gap)` : 'as expected';
  return {
    id: fault.id,
    title: fault.title,
    expected: fault.expected,
    requests: ctx.requests,
    failed: ctx.failed,
    failures: ctx.failures,
    outcome: [verdict, ...ctx.notes].join('. '),
    checks: ctx.checks,
    leftovers: ctx.leftovers,
    figures: ctx.figures,
  };
}
