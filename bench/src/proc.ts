// Linux /proc readings for the benchmark drivers: process trees, RSS, CPU time, liveness.
// Everything here reads files only; nothing signals or spawns.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { sleep } from '@master-process/testkit';

interface Stat {
  pid: number;
  ppid: number;
  /** One-letter state: R, S, D, Z (zombie), ... */
  state: string;
  /** utime + stime, in clock ticks. */
  cpuTicks: number;
}

/** Fields of /proc/<pid>/stat (the command name may hold spaces and parentheses: parse after the last `)`). */
function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After the name: state(0) ppid(1) ... utime(11) stime(12)
  return { pid, ppid: Number(fields[1]), state: fields[0]!, cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

/** True while `pid` exists and is not a zombie (a zombie has exited; only its parent has not reaped it). */
export function isRunning(pid: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

/** Parent pid of `pid`, or undefined when it is gone. */
export function parentOf(pid: number): number | undefined {
  return readStat(pid)?.ppid;
}

/** Every pid that is a child, grandchild... of `root` (not `root` itself), from one scan of /proc. */
export function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (!stat || stat.state === 'Z') continue;
    const list = children.get(stat.ppid);
    if (list) list.push(stat.pid);
    else children.set(stat.ppid, [stat.pid]);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Direct children of `pid` that are running. */
export function childrenOf(pid: number): number[] {
  return descendantsOf(pid).filter((child) => readStat(child)?.ppid === pid);
}

/** VmRSS of one process in bytes (0 when gone or a zombie). */
export function rssOf(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export interface TreeRss {
  t: number;
  /** RSS of the root (the master, the PM2 daemon, the naive primary). */
  root: number;
  /** RSS of each descendant, by pid. */
  workers: Record<number, number>;
  /** root + every descendant. */
  total: number;
}

/** RSS of `root` and its whole process tree, now. */
export function treeRss(root: number): TreeRss {
  const workers: Record<number, number> = {};
  let total = rssOf(root);
  const rootRss = total;
  for (const pid of descendantsOf(root)) {
    workers[pid] = rssOf(pid);
    total += workers[pid]!;
  }
  return { t: Date.now(), root: rootRss, workers, total };
}

let ticksPerSecond: number | undefined;
/** Clock ticks per second for /proc CPU times (`getconf CLK_TCK`, 100 on nearly every Linux). */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU time (user + system) `pid` has used so far, in ms; undefined when it is gone. */
export function cpuTimeMs(pid: number): number | undefined {
  const stat = readStat(pid);
  return stat ? (stat.cpuTicks * 1000) / clockTicks() : undefined;
}

/** The share of one core `pid` used over the next `ms` (0.01 = 1 %). Resolution: one clock tick over `ms`. */
export async function cpuShare(pid: number, ms: number): Promise<number> {
  const before = cpuTimeMs(pid);
  const startedAt = performance.now();
  await sleep(ms);
  const after = cpuTimeMs(pid);
  if (before === undefined || after === undefined) throw new Error(`process ${pid} exited while its CPU was measured`);
  return (after - before) / (performance.now() - startedAt);
}

/**
 * Samples the RSS of a process tree every `every` ms until `stop()`; `peak(from, to)` and
 * `samplesBetween` answer for any time window afterwards.
 */
export class RssSampler {
  readonly samples: TreeRss[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly root: number,
    private readonly every = 100,
  ) {}

  start(): this {
    const take = () => {
      const sample = treeRss(this.root);
      if (sample.root > 0) this.samples.push(sample);
    };
    take();
    this.timer = setInterval(take, this.every);
    this.timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  samplesBetween(from: number, to: number): TreeRss[] {
    return this.samples.filter((s) => s.t >= from && s.t <= to);
  }

  /** The sample with the largest total in [from, to], if any. */
  peak(from = 0, to = Infinity): TreeRss | undefined {
    let best: TreeRss | undefined;
    for (const s of this.samplesBetween(from, to)) if (!best || s.total > best.total) best = s;
    return best;
  }
}

/**
 * Watches `pids` until none is running (zombies count as gone) and resolves with the time each one was
 * first seen gone, by pid; a pid still running after `timeout`, or when `signal` aborts, is left out.
 * Polls every `every` ms (default 10): the resolution of reload durations.
 */
export async function watchExits(pids: Iterable<number>, options: { timeout: number; every?: number; signal?: AbortSignal }): Promise<Map<number, number>> {
  const watched = new Set(pids);
  const gone = new Map<number, number>();
  const deadline = Date.now() + options.timeout;
  for (;;) {
    const now = Date.now();
    for (const pid of watched) if (!gone.has(pid) && !isRunning(pid)) gone.set(pid, now);
    if (gone.size === watched.size || now > deadline || options.signal?.aborted) return gone;
    await sleep(options.every ?? 10);
  }
}

/** The time the last of `pids` was seen gone, or undefined if one still runs after `timeout`. */
export async function whenGone(pids: Iterable<number>, timeout: number, every = 10): Promise<number | undefined> {
  const watched = new Set(pids);
  const gone = await watchExits(watched, { timeout, every });
  if (gone.size < watched.size) return undefined;
  return watched.size === 0 ? Date.now() : Math.max(...gone.values());
}

/** The pids among `pids` still running. */
export function survivors(pids: Iterable<number>): number[] {
  return [...pids].filter(isRunning);
}
