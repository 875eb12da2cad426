// One benchmark run: one manager, one scenario (or several side by side, runTogether). Start the manager
// with the fixture app, wait until it serves, (optionally) measure its idle CPU, run the load, trigger K
// reloads spaced evenly, sample the process tree's RSS, stop the manager, check nothing is left, and
// analyse every recorded request.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, runLoad, sleep, summarize, tempDir, waitUntil, type LatencySummary, type LoadResult } from '@master-process/testkit';
import { startManager, type Manager, type ManagerOptions, type ReadyMark, type ReloadOutcome, type WorkerTimeline } from './managers.js';
import { cpuShare, RssSampler, watchExits } from './proc.js';

export interface RunOptions {
  /** Scenario name, for the report. */
  scenario: string;
  /** Manager row name, for the report. */
  label: string;
  manager: Omit<ManagerOptions, 'port' | 'tmp'>;
  connections: number;
  keepAlive: boolean;
  durationMs: number;
  /** Reloads, spaced evenly over the load: at duration × i / (K + 1). */
  reloads: number;
  /** Before the first reload, "deploy" a version that throws at boot (APP_CONFIG_FILE). */
  failingBoot?: boolean;
  /** Measure the root process's CPU over this long with no load, before the load. */
  idleMs?: number;
  /** Start of the load excluded from steady-state figures (default 1000 ms). */
  warmupMs?: number;
  requestTimeout?: number;
  /**
   * Keep the load going past `durationMs` until the last reload's new workers have answered this many
   * requests (bounded by a generous 2 minutes): on a busy machine a reload may take most of a fixed window.
   */
  untilNewServed?: number;
  /**
   * Something to run beside the load (e.g. a scraper of the master's metrics): started with the load, on the
   * started manager; stopped, and awaited, right before the load stops.
   */
  beside?: (manager: Manager) => { stop(): Promise<void> };
}

export interface FailureGroup {
  /** Reload index (1-based) the failures followed, or 0 before the first reload. */
  reload: number;
  kinds: Record<string, number>;
  /** ms after that reload's signal (or after the load started) of the first and last failure. */
  firstAfterMs: number;
  lastAfterMs: number;
}

/**
 * The steps of a reload, per slot (ms): the signal → the new worker forked → `online` (its Node process is
 * up) → `listening` → ready → the swap (the old worker retired: out of rotation) → the old one drained
 * (its cluster `disconnect`) → the old one exited. `firstNew` is per reload: the signal → the first
 * response from a new pid, as the load client saw it.
 */
export const PHASES = ['fork', 'online', 'listening', 'ready', 'swap', 'drain', 'exit'] as const;
export type Phase = (typeof PHASES)[number];
export type Breakdown = Partial<Record<Phase, number[]>> & { firstNew?: number };

export interface ReloadReport {
  index: number;
  ok: boolean;
  error?: string;
  /** Signal → every old worker gone (ms); null when they were still running (a failed reload keeps them). */
  durationMs: number | null;
  /** Signal → the last replacement was ready (ms). */
  readyMs: number | null;
  /** The last replacement ready → every old worker gone (ms): the reload's tail, spent draining and retiring. */
  drainMs: number | null;
  /** Signal → the manager reported the reload over (ms). */
  reportedMs: number;
  oldPids: number[];
  newPids: number[];
  /** Responses by pid from the moment the reload was reported over until the next reload (or the end). */
  servedAfter: Record<number, number>;
  /** Responses from an old pid to requests sent after its slot's replacement was ready. */
  oldAfterReady: number;
  /** Responses from an old pid to requests sent after the reload was reported done (null for a failed reload: the old ones keep serving). */
  oldAfterDone: number | null;
  failed: number;
  /** Peak RSS of the whole tree during the reload (bytes) and in workers' worth. */
  peakRss: number;
  peakWorkers: number;
  breakdown: Breakdown;
}

/** A reload as the driver saw it: the manager's outcome plus when each old pid was seen gone. */
type Outcome = ReloadOutcome & { watched: number[]; exits: Map<number, number> };

const goneAt = (o: Outcome) => (o.watched.length > 0 && o.exits.size === o.watched.length ? Math.max(...o.exits.values()) : undefined);

export interface RunResult {
  scenario: string;
  label: string;
  kind: string;
  workers: number;
  connections: number;
  keepAlive: boolean;
  durationMs: number;
  bootDelay: number;
  requestDelay: number;
  concurrency?: number;
  total: number;
  ok: number;
  failed: number;
  failures: Record<string, number>;
  failureGroups: FailureGroup[];
  /** ok responses per second outside reload windows, after the warm-up. */
  throughput: number;
  latency: { all: LatencySummary; steady: LatencySummary; reload: LatencySummary };
  reloads: ReloadReport[];
  /** Steady tree RSS (median, bytes), its root's share, one worker's worth. */
  rss: { steady: number; root: number; worker: number };
  /** Share of one core the root used while idle (0.01 = 1 %). */
  idleCpu?: number;
  /** Which pids served in the last second of the load. */
  servingAtEnd: Record<number, number>;
  leftovers: number[];
  startedAt: string;
}

const median = (values: number[]) => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

function countByPid(load: LoadResult, from: number, to: number): Record<number, number> {
  const counts: Record<number, number> = {};
  const { end, pid } = load.samples;
  for (let i = 0; i < end.length; i++) if (pid[i]! > 0 && end[i]! >= from && end[i]! < to) counts[pid[i]!] = (counts[pid[i]!] ?? 0) + 1;
  return counts;
}

/** Responses from `pid` to requests sent (end − latency) after `after`. */
function answeredAfter(load: LoadResult, pid: number, after: number): number {
  const { end, latency, pid: pids } = load.samples;
  let n = 0;
  for (let i = 0; i < end.length; i++) if (pids[i] === pid && end[i]! - latency[i]! > after) n++;
  return n;
}

/** The signal → the first response from one of `pids` (ms), or undefined if none answered. */
function firstResponse(load: LoadResult, pids: number[], signalAt: number): number | undefined {
  const { end, pid } = load.samples;
  let first = Infinity;
  for (let i = 0; i < end.length; i++) if (end[i]! < first && pids.includes(pid[i]!)) first = end[i]!;
  return first === Infinity ? undefined : first - signalAt;
}

/** The reload's steps, one value per slot that has them (see PHASES); each old worker is matched to its slot's new one. */
export function breakdown(o: { signalAt: number; oldPids: number[]; newPids: number[] }, timeline: Map<number, WorkerTimeline>): Partial<Record<Phase, number[]>> {
  const phases: Partial<Record<Phase, number[]>> = {};
  const add = (phase: Phase, from: number | undefined, to: number | undefined) => {
    if (from !== undefined && to !== undefined) (phases[phase] ??= []).push(to - from);
  };
  for (const pid of o.newPids) {
    const fresh = timeline.get(pid);
    if (!fresh) continue;
    const old = o.oldPids.map((p) => timeline.get(p)).find((t) => t?.slot !== undefined && t.slot === fresh.slot);
    add('fork', o.signalAt, fresh.fork);
    add('online', fresh.fork, fresh.online);
    add('listening', fresh.online, fresh.listening);
    add('ready', fresh.listening, fresh.ready);
    // The naive cluster kills the old worker at the signal, before the new one is ready: no swap, no drain.
    if (old?.retire !== undefined && fresh.ready !== undefined && old.retire >= fresh.ready) add('swap', fresh.ready, old.retire);
    add('drain', old?.retire, old?.disconnect);
    add('exit', old?.disconnect ?? old?.retire, old?.exit);
  }
  return phases;
}

export function run(options: RunOptions): Promise<RunResult> {
  return runTogether([options]).then(([result]) => result!);
}

/**
 * Several runs at the same time, on the same schedule (the first one's duration and reloads): each its
 * own manager, port and load client, every reload triggered in all of them at once. On a shared, noisy
 * machine this is the fair way to compare timings: every manager sees the same moments.
 */
export async function runTogether(list: RunOptions[]): Promise<RunResult[]> {
  const schedule = list[0]!;
  const tmp = tempDir('mp-bench-');
  type Entry = { options: RunOptions; port: number; configFile: string; manager?: Manager; sampler?: RssSampler; outcomes: Outcome[]; beside?: { stop(): Promise<void> } };
  const entries: Entry[] = [];
  const stopBeside = async (e: Entry) => {
    const beside = e.beside;
    e.beside = undefined;
    await beside?.stop();
  };
  let loads: ReturnType<typeof runLoad>[] = [];
  try {
    for (const [k, options] of list.entries()) {
      const configFile = join(tmp.path, `app-${k}.json`);
      writeFileSync(configFile, '{}');
      entries.push({ options, port: await freePort(), configFile, outcomes: [] });
    }
    for (const e of entries) {
      const own = join(tmp.path, String(entries.indexOf(e)));
      mkdirSync(own);
      e.manager = await startManager({ ...e.options.manager, port: e.port, tmp: own, app: { ...e.options.manager.app, configFile: e.configFile } });
      e.sampler = new RssSampler(e.manager.rootPid).start();
    }
    const idleCpu = await Promise.all(entries.map((e) => (e.options.idleMs ? cpuShare(e.manager!.rootPid, e.options.idleMs) : undefined)));

    loads = entries.map((e) =>
      runLoad({
        target: { port: e.port },
        connections: e.options.connections,
        keepAlive: e.options.keepAlive,
        // Stopped below: at the nominal duration, or later if the last reload is not over a second before it
        // (or, with untilNewServed, until its new workers have answered enough).
        durationMs: schedule.durationMs + 120_000,
        requestTimeout: e.options.requestTimeout ?? 10_000,
        keepFailures: 1_000_000,
      }),
    );
    const loadStart = Date.now();
    for (const e of entries) e.beside = e.options.beside?.(e.manager!);
    for (let i = 1; i <= schedule.reloads; i++) {
      const at = loadStart + (schedule.durationMs * i) / (schedule.reloads + 1);
      if (Date.now() < at) await sleep(at - Date.now());
      await Promise.all(entries.map(async (e) => {
        if (e.options.failingBoot && i === 1) writeFileSync(e.configFile, JSON.stringify({ boot: 'throw' }));
        // Poll for the old workers' exit from the signal on: that is the reload duration.
        const old = e.manager!.workerPids();
        const abort = new AbortController();
        const exits = watchExits(old, { timeout: 180_000, signal: abort.signal });
        const outcome = await e.manager!.reload();
        // A failed reload keeps the old workers: stop watching them.
        if (!outcome.ok) abort.abort();
        e.outcomes.push({ ...outcome, watched: old, exits: await exits });
      }));
    }
    // Every reload's new generation gets at least a second of load after the reload, however slow the machine.
    const lastDone = Math.max(0, ...entries.flatMap((e) => e.outcomes.map((o) => Math.max(o.reportedAt, ...o.exits.values()))));
    await sleep(Math.max(loadStart + schedule.durationMs, lastDone + 1000) - Date.now());
    await Promise.all(entries.map(async (e, k) => {
      const wanted = e.options.untilNewServed;
      if (!wanted) return;
      const fresh = new Set(e.outcomes.at(-1)?.newPids ?? []);
      const served = () => loads[k]!.samples.pid.reduce((n, pid) => n + (fresh.has(pid) ? 1 : 0), 0);
      await waitUntil(() => served() >= wanted, 120_000, `${wanted} answers from the new workers`);
    }));
    await Promise.all(entries.map(stopBeside));
    for (const load of loads) load.stop();
    const results = await Promise.all(loads.map((load) => load.done));
    const analysed: RunResult[] = [];
    for (const [k, e] of entries.entries()) {
      e.sampler!.stop();
      const marks = e.manager!.readyMarks();
      const timeline = e.manager!.timeline();
      const { leftovers } = await e.manager!.stop();
      e.manager = undefined;
      const extra = { loadStart, warmupMs: e.options.warmupMs ?? 1000, workers: e.options.manager.workers, idleCpu: idleCpu[k], leftovers };
      analysed.push(analyse(e.options, results[k]!, e.outcomes, marks, timeline, e.sampler!, extra));
    }
    return analysed;
  } finally {
    await Promise.all(entries.map((e) => stopBeside(e).catch(() => {})));
    for (const load of loads) load.stop();
    for (const e of entries) {
      e.sampler?.stop();
      if (e.manager) await e.manager.stop().catch(() => {});
    }
    tmp.remove();
  }
}

function analyse(
  options: RunOptions,
  load: LoadResult,
  outcomes: Outcome[],
  marks: Map<number, ReadyMark>,
  timeline: Map<number, WorkerTimeline>,
  sampler: RssSampler,
  extra: { loadStart: number; warmupMs: number; workers: number; idleCpu?: number; leftovers: number[] },
): RunResult {
  const { loadStart, warmupMs, workers } = extra;
  const windows = outcomes.map((o) => [o.signalAt, Math.max(o.reportedAt, goneAt(o) ?? 0)] as const);
  const inWindow = (t: number) => windows.some(([from, to]) => t >= from && t <= to);
  const steadyFrom = loadStart + warmupMs;

  // Latency and throughput, steady state vs reload windows (successful requests only).
  const steady: number[] = [];
  const reloading: number[] = [];
  const { end, latency, pid } = load.samples;
  for (let i = 0; i < end.length; i++) {
    if (pid[i]! <= 0) continue;
    if (inWindow(end[i]!)) reloading.push(latency[i]!);
    else if (end[i]! >= steadyFrom) steady.push(latency[i]!);
  }
  const windowTime = windows.reduce((sum, [from, to]) => sum + (Math.min(to, load.endedAt) - Math.max(from, steadyFrom)), 0);
  const steadyTime = load.endedAt - steadyFrom - Math.max(0, windowTime);

  // Steady RSS: samples after the warm-up and outside reload windows (plus a margin for exits to settle).
  const calm = sampler.samples.filter((s) => s.t >= steadyFrom && !windows.some(([from, to]) => s.t >= from - 200 && s.t <= to + 500));
  const steadyRss = median(calm.map((s) => s.total));
  const rootRss = median(calm.map((s) => s.root));
  const workerRss = (steadyRss - rootRss) / workers || 1;

  // Failures, grouped by the reload they followed, with offsets from that reload's signal.
  const groups = new Map<number, FailureGroup>();
  for (const f of load.firstFailures) {
    let index = 0;
    for (let k = 0; k < outcomes.length; k++) if (f.t >= outcomes[k]!.signalAt) index = k + 1;
    const origin = index === 0 ? loadStart : outcomes[index - 1]!.signalAt;
    const group = groups.get(index) ?? { reload: index, kinds: {}, firstAfterMs: f.t - origin, lastAfterMs: f.t - origin };
    group.kinds[f.kind] = (group.kinds[f.kind] ?? 0) + 1;
    group.lastAfterMs = f.t - origin;
    groups.set(index, group);
  }

  const reloads: ReloadReport[] = outcomes.map((o, k) => {
    const next = outcomes[k + 1]?.signalAt ?? load.endedAt + 1;
    const [from, to] = windows[k]!;
    let oldAfterReady = 0;
    let oldAfterDone = 0;
    let readyMs: number | null = null;
    for (const old of o.oldPids) {
      const slot = marks.get(old)?.slot;
      const replacement = o.newPids.map((p) => marks.get(p)).find((m) => m && m.slot === slot);
      if (replacement) {
        oldAfterReady += answeredAfter(load, old, replacement.t);
        readyMs = Math.max(readyMs ?? 0, replacement.t - o.signalAt);
      }
      oldAfterDone += answeredAfter(load, old, o.reportedAt);
    }
    const gone = goneAt(o);
    // 0 when the old workers were gone before the last replacement was ready (the naive cluster's downtime).
    const drainMs = gone !== undefined && readyMs !== null ? Math.max(0, gone - o.signalAt - readyMs) : null;
    const peak = sampler.peak(from, to + 200);
    return {
      index: k + 1,
      ok: o.ok,
      ...(o.error ? { error: o.error } : {}),
      durationMs: gone !== undefined ? gone - o.signalAt : null,
      readyMs,
      drainMs,
      reportedMs: o.reportedAt - o.signalAt,
      oldPids: o.oldPids,
      newPids: o.newPids,
      servedAfter: countByPid(load, o.reportedAt, next),
      oldAfterReady,
      oldAfterDone: o.ok ? oldAfterDone : null,
      failed: groups.get(k + 1) ? Object.values(groups.get(k + 1)!.kinds).reduce((a, b) => a + b, 0) : 0,
      peakRss: peak?.total ?? 0,
      peakWorkers: peak ? Math.round(((peak.total - peak.root) / workerRss) * 100) / 100 : 0,
      breakdown: { ...breakdown(o, timeline), ...(o.newPids.length ? { firstNew: firstResponse(load, o.newPids, o.signalAt) } : {}) },
    };
  });

  const app = options.manager.app;
  return {
    scenario: options.scenario,
    label: options.label,
    kind: options.manager.kind,
    workers,
    connections: options.connections,
    keepAlive: options.keepAlive,
    durationMs: options.durationMs,
    bootDelay: app.bootDelay ?? 0,
    requestDelay: app.requestDelay ?? 0,
    ...(options.manager.concurrency ? { concurrency: options.manager.concurrency } : {}),
    total: load.total,
    ok: load.ok,
    failed: load.failed,
    failures: load.failures,
    failureGroups: [...groups.values()],
    throughput: Math.round((steady.length / Math.max(1, steadyTime)) * 1000),
    latency: { all: load.latency, steady: summarize(steady), reload: summarize(reloading) },
    reloads,
    rss: { steady: steadyRss, root: rootRss, worker: Math.round(workerRss) },
    ...(extra.idleCpu !== undefined ? { idleCpu: extra.idleCpu } : {}),
    servingAtEnd: countByPid(load, load.endedAt - 1000, load.endedAt + 1),
    leftovers: extra.leftovers,
    startedAt: new Date(loadStart).toISOString(),
  };
}
