import { createLogger, definePlugin, packageCompatibility, warn, type Master, type Plugin, type WorkerInfo } from '@master-process/core';
import { resolveProfilerSignalOptions, type ProfilerSignalOptions } from './options.js';

const log = createLogger('profiler-signal');
const SOURCE = 'profiler-signal';
/** The signal the master listens for; `options.signal` is what the workers get. */
const TRIGGER = 'SIGUSR2';
/** `version` and the `core` range, from this package's package.json. */
const compatibility = packageCompatibility(import.meta.url);

export interface ProfilerSignalApi {
  /** True between a first SIGUSR2 and the next one (or the `maxPause` timeout). */
  readonly profiling: boolean;
}

declare module '@master-process/core' {
  interface PluginApis {
    'profiler-signal': ProfilerSignalApi;
  }
}

/** Payload of the `profiler:start` / `profiler:stop` events. */
export interface ProfilerEvent {
  signal: NodeJS.Signals;
  /** Workers the signal was sent to. */
  pids: number[];
  /** Why it stopped: `signal` or `timeout` (`profiler:stop` only). */
  reason?: 'signal' | 'timeout';
}

/**
 * SIGUSR2 on the master toggles profiling: the signal goes to the serving workers and resource
 * monitoring pauses (`monitoring:pause`) until the next SIGUSR2 or `maxPause`.
 */
export function profilerSignal(options: ProfilerSignalOptions = {}): Plugin<ProfilerSignalApi> {
  const { signal, workers: slots, maxPause } = resolveProfilerSignalOptions(options);
  let master: Master | undefined;
  let profiling = false;
  /** Workers told to start: only they are told to stop, so a worker forked meanwhile never starts a profile nobody stops. */
  let profiled: number[] = [];
  let timer: NodeJS.Timeout | undefined;

  const send = (pids: number[]) =>
    pids.filter((pid) => {
      try {
        process.kill(pid, signal);
        return true;
      } catch (error) {
        log('PID/%d: could not send %s: %s', pid, signal, (error as Error).message); // it exited in between
        return false;
      }
    });
  const selected = (w: WorkerInfo) => slots === undefined || slots.has(w.slot);

  function start(): void {
    profiling = true;
    // Paused before any worker slows down; `profiler:start` comes last, once everything is done.
    master!.emit('monitoring:pause', { source: SOURCE, reason: `profiling (${TRIGGER})` });
    // Only workers that serve: a booting one may not have its handler yet, and the default action kills.
    profiled = send(master!.workers.filter((w) => w.state === 'ready' && selected(w)).map((w) => w.pid));
    log('profiling: sent %s to %o; monitoring paused%s', signal, profiled, maxPause > 0 ? ` for at most ${maxPause} ms` : '');
    master!.emit('profiler:start', { signal, pids: profiled } satisfies ProfilerEvent);
    if (maxPause > 0) {
      timer = setTimeout(() => stop('timeout'), maxPause);
      timer.unref();
    }
  }

  function stop(reason: 'signal' | 'timeout'): void {
    clearTimeout(timer);
    timer = undefined;
    profiling = false;
    // Retiring workers still get it, so their profile is written before they exit.
    const alive = new Set(master!.workers.filter((w) => w.state !== 'exited').map((w) => w.pid));
    const pids = send(profiled.filter((pid) => alive.has(pid)));
    profiled = [];
    log('profiling stopped (%s): sent %s to %o; monitoring resumed', reason === 'timeout' ? `maxPause of ${maxPause} ms reached` : TRIGGER, signal, pids);
    master!.emit('monitoring:resume', { source: SOURCE, reason: reason === 'timeout' ? 'profiling timed out (maxPause)' : `profiling done (${TRIGGER})` });
    master!.emit('profiler:stop', { signal, pids, reason } satisfies ProfilerEvent);
  }

  return definePlugin({
    name: 'profiler-signal',
    ...compatibility,
    signals: [TRIGGER],
    api: {
      get profiling() {
        return profiling;
      },
    },
    setup(m) {
      master = m;
      const missing = slots && [...slots].filter((slot) => slot >= m.options.workers);
      if (missing?.length) {
        warn(`profiler-signal: option \`workers\` names slot(s) ${missing.join(', ')}, but the master has ${m.options.workers} worker(s) (slots 0-${m.options.workers - 1}); those are skipped.`);
      }
    },
    onSignal(received) {
      if (received !== TRIGGER || !master) return;
      if (profiling) stop('signal');
      else start();
    },
    onExit() {
      clearTimeout(timer);
      timer = undefined;
      profiling = false;
    },
  });
}
