// A ready-made handler for the signal @master-process/plugin-profiler-signal forwards: without one,
// Node's default action for SIGUSR2 kills the worker. Node's own inspector does the profiling, so a
// `.cpuprofile` (loadable in Chrome DevTools) needs no extra dependency.
import { statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';
import { invalidValue } from '../errors.js';

const PKG = '@master-process/core/worker';

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export interface ProfilerSignalOptions {
  /** The signal that starts, then stops, a CPU profile (default `SIGUSR2`). */
  signal?: NodeJS.Signals;
  /** An existing folder for the `.cpuprofile` files (default: env `PROFILE_DIR`, else the working directory). */
  dir?: string;
}

/**
 * Toggle a CPU profile of this process on `signal`: the first one starts it, the next one writes
 * `<dir>/cpu-<pid>-<time>.cpuprofile`. Failures are reported on stderr and never crash the worker.
 * Returns a function that uninstalls the handler (a profile still running is then dropped).
 */
export function handleProfilerSignal(options: ProfilerSignalOptions = {}): () => void {
  const signal = options.signal ?? 'SIGUSR2';
  if (typeof signal !== 'string' || !Object.hasOwn(constants.signals, signal) || signal === 'SIGKILL' || signal === 'SIGSTOP') {
    throw invalidValue({ option: 'signal' }, signal, 'a signal name a process can handle, such as "SIGUSR2"', PKG);
  }
  const rawDir = options.dir ?? process.env.PROFILE_DIR ?? '';
  if (typeof rawDir !== 'string') throw invalidValue({ option: 'dir' }, rawDir, 'a folder path', PKG);
  const dir = resolve(rawDir);
  // Warn now rather than lose a long profile later; never stop the app from booting over it.
  if (!isFolder(dir)) {
    process.stderr.write(`master-process: CPU profiles of ${process.pid} go to ${dir}, which is not a folder yet: create it before profiling.\n`);
  }

  let session: Session | undefined;
  // Signals are handled one after the other, so a quick double signal still starts then stops.
  let queue = Promise.resolve();
  const report = (what: string) => (error: unknown) =>
    void process.stderr.write(`master-process: CPU profile of ${process.pid}: ${what} failed: ${(error as Error)?.message ?? error}\n`);

  const start = async () => {
    const started = new Session();
    started.connect();
    try {
      await started.post('Profiler.enable');
      await started.post('Profiler.start');
    } catch (error) {
      started.disconnect();
      throw error;
    }
    session = started;
    process.stderr.write(`master-process: CPU profile of ${process.pid} started; send ${signal} again to write it.\n`);
  };
  const stop = async (running: Session) => {
    session = undefined;
    try {
      const { profile } = await running.post('Profiler.stop');
      const stamp = new Date().toISOString().replace(/[-:]/g, '');
      const file = join(dir, `cpu-${process.pid}-${stamp}.cpuprofile`);
      await writeFile(file, JSON.stringify(profile));
      process.stderr.write(`master-process: CPU profile of ${process.pid} written to ${file}\n`);
    } finally {
      running.disconnect();
    }
  };
  const toggle = () => {
    queue = queue.then(() => (session ? stop(session).catch(report('writing')) : start().catch(report('starting'))));
  };

  process.on(signal, toggle);
  return () => {
    process.off(signal, toggle);
    queue = queue.then(() => session?.disconnect()).then(() => void (session = undefined));
  };
}
