import { assertKnownKeys, parseDuration, parseNumber, resolveSetting, type ValueSource } from '@master-process/core';

export const PKG = '@master-process/plugin-monitor';

export interface MonitorOptions {
  /** Resident memory (RSS) a worker may use, in MB (env `MAX_MEMORY_ALLOWED_MB`; default 1200, 450 on 32-bit arm/ia32). */
  maxMemoryMB?: number | string;
  /** CPU a worker may use, in percent of one core (env `MAX_CPU_ALLOWED`; default 95). */
  maxCpu?: number | string;
  /** Consecutive samples over `maxMemoryMB` before the worker is replaced (env `MEM_MONITOR_FAILURES`; default 10). */
  memoryFailures?: number | string;
  /** Consecutive samples over `maxCpu` before the worker is replaced (env `CPU_MONITOR_FAILURES`; default 10). */
  cpuFailures?: number | string;
  /** Time between two samples: ms, or "2s", "500ms"... (default 2s). */
  interval?: number | string;
  /** Time after a worker is ready before its sampling starts, so start-up JIT is not punished (default 30s). */
  grace?: number | string;
}

export interface ResolvedMonitorOptions {
  maxMemoryMB: number;
  maxCpu: number;
  memoryFailures: number;
  cpuFailures: number;
  interval: number;
  grace: number;
}

const KNOWN = ['maxMemoryMB', 'maxCpu', 'memoryFailures', 'cpuFailures', 'interval', 'grace'];
export const MIN_INTERVAL = 100;

// The original's defaults: about V8's default heap limit for the architecture.
const defaultMaxMemoryMB = (): number => (process.arch === 'arm' || process.arch === 'ia32' ? 450 : 1200);

const positive = (v: unknown, s: ValueSource) => parseNumber(v, s, { min: 0, minInclusive: false }, PKG);
const count = (v: unknown, s: ValueSource) => parseNumber(v, s, { min: 1, integer: true }, PKG);

/** Explicit option > environment variable > default; anything else fails here, at plugin creation. */
export function resolveMonitorOptions(options: MonitorOptions = {}, environment: NodeJS.ProcessEnv = process.env): ResolvedMonitorOptions {
  assertKnownKeys(options, new Set(KNOWN), { pkg: PKG });
  const duration = (min: number) => (v: unknown, s: ValueSource) => parseDuration(v, s, PKG, min);
  return {
    maxMemoryMB: resolveSetting({ option: 'maxMemoryMB', value: options.maxMemoryMB, env: 'MAX_MEMORY_ALLOWED_MB', default: defaultMaxMemoryMB(), parse: positive, environment }),
    maxCpu: resolveSetting({ option: 'maxCpu', value: options.maxCpu, env: 'MAX_CPU_ALLOWED', default: 95, parse: positive, environment }),
    memoryFailures: resolveSetting({ option: 'memoryFailures', value: options.memoryFailures, env: 'MEM_MONITOR_FAILURES', default: 10, parse: count, environment }),
    // The original README spelled it CPU_MONITOR_FAILURE.
    cpuFailures: resolveSetting({ option: 'cpuFailures', value: options.cpuFailures, env: ['CPU_MONITOR_FAILURES', 'CPU_MONITOR_FAILURE'], default: 10, parse: count, environment }),
    interval: resolveSetting({ option: 'interval', value: options.interval, default: 2000, parse: duration(MIN_INTERVAL), environment }),
    grace: resolveSetting({ option: 'grace', value: options.grace, default: 30_000, parse: duration(0), environment }),
  };
}
