import { version as coreVersion, type Master } from '@master-process/core';
import { brief, type CurrentReload, type LastReload, type ReloadTracker, type WorkerBrief } from './tracker.js';

export interface WorkerStatus extends WorkerBrief {
  /** Why it was forked: start, reload, crash, replace. */
  reason: string;
  startedAt: number;
  readyAt?: number;
  uptime: number;
  /** Crash restarts of its slot since the master started. */
  restarts: number;
  /** From the monitor plugin, when it is installed and has sampled this worker. */
  memoryMB?: number;
  cpu?: number;
}

export interface Status {
  master: {
    pid: number;
    name: string;
    state: Master['state'];
    startedAt: number;
    uptime: number;
    socket: string;
    versions: { core: string; node: string };
    /** Configured number of workers (slots). */
    workers: number;
  };
  /** The generation that serves. */
  generation: number;
  workers: WorkerStatus[];
  reload: (CurrentReload & { elapsed: number }) | null;
  lastReload: LastReload | null;
  /** Whether memory and CPU figures come with the workers (the monitor plugin is installed). */
  monitor: boolean;
}

/** What `master.plugin('monitor')` offers (plugins never import each other; this is the shape we read). */
interface MonitorLike {
  usage(): { pid: number; memoryMB: number; cpu: number }[];
}

// Never the options' `env`, nor the workers' arguments: they may hold secrets.
export function buildStatus(master: Master, tracker: ReloadTracker, context: { name: string; socket: string }): Status {
  const now = Date.now();
  const startedAt = Math.round(now - process.uptime() * 1000);
  const monitor = master.plugin<MonitorLike>('monitor');
  const usage = new Map(typeof monitor?.usage === 'function' ? monitor.usage().map((u) => [u.pid, u]) : []);
  const workers = master.workers.map((w): WorkerStatus => {
    const figures = usage.get(w.pid);
    return {
      ...brief(w),
      reason: w.reason,
      startedAt: w.forkedAt,
      ...(w.readyAt !== undefined ? { readyAt: w.readyAt } : {}),
      uptime: now - w.forkedAt,
      restarts: tracker.restarts.get(w.slot) ?? 0,
      ...(figures ? { memoryMB: figures.memoryMB, cpu: figures.cpu } : {}),
    };
  });
  return {
    master: {
      pid: master.pid, name: context.name, state: master.state, startedAt, uptime: now - startedAt, socket: context.socket,
      versions: { core: coreVersion, node: process.version }, workers: master.options.workers,
    },
    generation: master.generation,
    workers,
    reload: tracker.current ? { ...tracker.current, elapsed: now - tracker.current.startedAt } : null,
    lastReload: tracker.last ?? null,
    monitor: typeof monitor?.usage === 'function',
  };
}
