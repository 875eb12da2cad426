import { ErrorCode, MasterProcessError, invalidValue } from './errors.js';
import { assertKnownKeys, parseBoolean, parseDuration, parseNumber, parseOneOf, parseWorkers, resolveSetting } from './parse.js';
import type { MasterOptions, ResolvedOptions } from './types.js';

const KNOWN = new Set([
  'exec', 'args', 'execArgv', 'env', 'workers', 'killTimeout', 'readyTimeout', 'shutdownDelay', 'readyOn', 'crash', 'reload',
  'hookTimeout', 'drain', 'watchdog', 'exitProcess', 'handleSignals', 'captureStderr', 'plugins',
]);
const CRASH_KNOWN = new Set(['throttle', 'backoff', 'maxDelay', 'maxCrashes', 'window']);

function stringArray(name: string, value: unknown, fallback: string[]): string[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw invalidValue({ option: name }, value, 'an array of strings');
  return [...value];
}


/** Explicit options win over environment variables; environment variables win over defaults. */
export function resolveOptions(options: MasterOptions = {}, environment: NodeJS.ProcessEnv = process.env): ResolvedOptions {
  assertKnownKeys(options, KNOWN);
  const exec = options.exec ?? process.argv[1];
  if (typeof exec !== 'string' || exec === '') throw invalidValue({ option: 'exec' }, exec, 'the path of the worker script');

  const env: Record<string, string> = {};
  if (options.env !== undefined) {
    if (options.env === null || typeof options.env !== 'object') throw invalidValue({ option: 'env' }, options.env, 'an object of string values');
    for (const [k, v] of Object.entries(options.env)) {
      if (v === undefined) continue;
      if (typeof v !== 'string') throw invalidValue({ option: `env.${k}` }, v, 'a string');
      env[k] = v;
    }
  }

  const crashOpt = options.crash;
  if (crashOpt !== undefined && crashOpt !== 'exit' && (crashOpt === null || typeof crashOpt !== 'object')) {
    throw invalidValue({ option: 'crash' }, crashOpt, '"exit" or an object { throttle, backoff, maxDelay, maxCrashes, window }');
  }
  const crash = typeof crashOpt === 'object' ? crashOpt : {};
  assertKnownKeys(crash, CRASH_KNOWN, { prefix: 'crash.' });
  if (options.reload !== undefined) assertKnownKeys(options.reload, new Set(['concurrency', 'probation']), { prefix: 'reload.' });

  const workers = resolveSetting({ option: 'workers', value: options.workers, env: 'WORKERS', default: 1, parse: parseWorkers, environment });
  const concurrency = resolveSetting({
    option: 'reload.concurrency', value: options.reload?.concurrency, default: workers,
    parse: (v, s) => parseNumber(v, s, { integer: true, min: 1 }),
    environment,
  });
  const duration = (option: string, value: unknown, envName: string | undefined, fallback: number, min = 0) =>
    resolveSetting({
      option, value, env: envName, default: fallback, environment,
      parse: (v, s) => parseDuration(v, s, undefined, min),
    });

  const resolved: ResolvedOptions = {
    exec,
    args: stringArray('args', options.args, process.argv.slice(2)),
    execArgv: stringArray('execArgv', options.execArgv, process.execArgv),
    env,
    workers,
    killTimeout: duration('killTimeout', options.killTimeout, 'MAX_KILL_TIMEOUT', 5000, 1),
    readyTimeout: duration('readyTimeout', options.readyTimeout, undefined, 30_000, 1),
    shutdownDelay: duration('shutdownDelay', options.shutdownDelay, 'SHUTDOWN_DELAY', 0),
    readyOn: resolveSetting({ option: 'readyOn', value: options.readyOn, default: 'listening' as const, parse: parseOneOf(['listening', 'message'] as const), environment }),
    crash: {
      mode: crashOpt === 'exit' ? 'exit' : 'restart',
      throttle: duration('crash.throttle', crash.throttle, 'WORKER_THROTTLE', 1000),
      backoff: resolveSetting({ option: 'crash.backoff', value: crash.backoff, env: 'RESTART_BACKOFF', default: 'exponential' as const, parse: parseOneOf(['exponential', 'constant'] as const), environment }),
      maxDelay: duration('crash.maxDelay', crash.maxDelay, undefined, 30_000),
      maxCrashes: resolveSetting({ option: 'crash.maxCrashes', value: crash.maxCrashes, default: 5, parse: (v, s) => parseNumber(v, s, { integer: true, min: 0 }), environment }),
      window: duration('crash.window', crash.window, undefined, 60_000, 1),
    },
    reload: { concurrency: Math.min(concurrency, workers), probation: duration('reload.probation', options.reload?.probation, undefined, 0) },
    hookTimeout: duration('hookTimeout', options.hookTimeout, undefined, 10_000, 1),
    drain: resolveSetting({ option: 'drain', value: options.drain, env: 'MASTER_PROCESS_DRAIN', default: true, parse: parseBoolean, environment }),
    watchdog: resolveSetting({ option: 'watchdog', value: options.watchdog, default: true, parse: parseBoolean, environment }),
    exitProcess: resolveSetting({ option: 'exitProcess', value: options.exitProcess, default: true, parse: parseBoolean, environment }),
    handleSignals: resolveSetting({ option: 'handleSignals', value: options.handleSignals, default: true, parse: parseBoolean, environment }),
    captureStderr: resolveSetting({ option: 'captureStderr', value: options.captureStderr, default: true, parse: parseBoolean, environment }),
  };
  if (resolved.crash.maxDelay < resolved.crash.throttle) {
    throw new MasterProcessError(ErrorCode.INVALID_OPTION, `@master-process/core: option \`crash.maxDelay\` (${resolved.crash.maxDelay} ms) is shorter than the crash throttle (${resolved.crash.throttle} ms). Raise crash.maxDelay or lower WORKER_THROTTLE.`);
  }
  return resolved;
}
