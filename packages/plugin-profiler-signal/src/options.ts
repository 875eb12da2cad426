import { constants } from 'node:os';
import { assertKnownKeys, invalidValue, parseDuration, resolveSetting } from '@master-process/core';

export const PKG = '@master-process/plugin-profiler-signal';

export interface ProfilerSignalOptions {
  /** The signal forwarded to the workers (default `SIGUSR2`, the one the master received). */
  signal?: NodeJS.Signals;
  /** Slots whose workers get the signal (default: every slot). */
  workers?: readonly number[];
  /** Resume monitoring (and stop the profiles) after this long; 0 = wait for the next signal (default 10m). */
  maxPause?: number | string;
}

export interface ResolvedProfilerSignalOptions {
  signal: NodeJS.Signals;
  /** undefined = every slot. */
  workers?: ReadonlySet<number>;
  maxPause: number;
}

const KNOWN = ['signal', 'workers', 'maxPause'];
// These would stop the workers instead of letting them profile; SIGKILL/SIGSTOP cannot be handled at all.
const REFUSED = new Set(['SIGKILL', 'SIGSTOP', 'SIGTERM', 'SIGINT']);

function parseSignal(value: unknown): NodeJS.Signals {
  if (typeof value === 'string' && Object.hasOwn(constants.signals, value) && !REFUSED.has(value)) return value as NodeJS.Signals;
  throw invalidValue({ option: 'signal' }, value, 'a signal name a worker handles, such as "SIGUSR2" or "SIGUSR1" (not SIGKILL, SIGSTOP, SIGTERM or SIGINT)', PKG);
}

function parseSlots(value: unknown): ReadonlySet<number> {
  if (!Array.isArray(value) || value.length === 0 || !value.every((slot) => Number.isInteger(slot) && slot >= 0)) {
    throw invalidValue({ option: 'workers' }, value, 'a non-empty array of slot indexes (integers >= 0), e.g. [0] or [0, 2]', PKG);
  }
  return new Set(value as number[]);
}

export function resolveProfilerSignalOptions(options: ProfilerSignalOptions = {}): ResolvedProfilerSignalOptions {
  assertKnownKeys(options, new Set(KNOWN), { pkg: PKG });
  return {
    signal: options.signal === undefined ? 'SIGUSR2' : parseSignal(options.signal),
    ...(options.workers !== undefined ? { workers: parseSlots(options.workers) } : {}),
    maxPause: resolveSetting({ option: 'maxPause', value: options.maxPause, default: 10 * 60_000, parse: (v, s) => parseDuration(v, s, PKG) }),
  };
}
