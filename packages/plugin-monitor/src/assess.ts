import type { ResolvedMonitorOptions } from './options.js';

export const MB = 1024 * 1024;
/** Above this share of `maxMemoryMB` the worker is told (`mem_high`), as the original did. */
export const MEM_HIGH_PERCENT = 80;

export type Resource = 'memory' | 'cpu';

/** What the monitor keeps per watched worker between samples. */
export interface Counters {
  memoryFailures: number;
  cpuFailures: number;
  /**
   * The next CPU figure spans an unknown window (first read, or a pause): it refreshes the
   * baseline but is not judged.
   */
  baseline: boolean;
}

export interface Reading {
  /** Resident memory, bytes. */
  memory: number;
  /** Percent of one core since the previous read. */
  cpu: number;
}

export interface Verdict {
  /** Set when the worker stayed over a limit long enough: replace it. */
  replace?: Resource;
  /** Memory in percent of the limit, when above MEM_HIGH_PERCENT and the worker is not being replaced. */
  memHigh?: number;
}

/** One sample of one worker: update its counters (a sample under a limit resets that counter) and decide. */
export function assess(counters: Counters, reading: Reading, limits: ResolvedMonitorOptions): Verdict {
  const memPercent = (reading.memory * 100) / (limits.maxMemoryMB * MB);
  counters.memoryFailures = memPercent > 100 ? counters.memoryFailures + 1 : 0;
  if (counters.memoryFailures >= limits.memoryFailures) return { replace: 'memory' };

  if (counters.baseline) counters.baseline = false;
  else counters.cpuFailures = reading.cpu > limits.maxCpu ? counters.cpuFailures + 1 : 0;
  const verdict: Verdict = counters.cpuFailures >= limits.cpuFailures ? { replace: 'cpu' } : {};
  if (!verdict.replace && memPercent > MEM_HIGH_PERCENT) verdict.memHigh = memPercent;
  return verdict;
}

export function resetCounters(counters: Counters): void {
  counters.memoryFailures = 0;
  counters.cpuFailures = 0;
  counters.baseline = true;
}
