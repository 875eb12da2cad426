// The master's own metrics, kept from its events: the master never reloads, so these live as long as
// the service does. Per-worker figures (state, memory, CPU) are read when scraped.
import type { Master, WorkerInfo } from '@master-process/core';
import type { MonitorLike } from './monitor-like.js';
import type { ResolvedMetricsOptions } from './options.js';
import type { Prom } from './prom.js';

type Registry = InstanceType<Prom['Registry']>;

/** Registers the master's metrics on `registry` and keeps them up to date; `detach()` stops listening. */
export function masterMetrics(prom: Prom, registry: Registry, master: Master, options: ResolvedMetricsOptions, versions: Record<string, string>): { detach(): void } {
  const p = options.prefix;
  const registers = [registry];
  const startedAt = Date.now();
  const reloadStarted = new Map<number, number>();

  new prom.Gauge({ name: `${p}info`, help: 'Always 1; the labels say which versions run the master.', labelNames: Object.keys(versions), registers }).set(versions, 1);
  new prom.Gauge({ name: `${p}start_time_seconds`, help: 'When the master started (Unix time, seconds).', registers }).set(Math.round(startedAt / 1000));
  new prom.Gauge({
    name: `${p}uptime_seconds`, help: 'Seconds since the master started (the master does not reload: this counts across reloads).', registers,
    collect() { this.set((Date.now() - startedAt) / 1000); },
  });
  new prom.Gauge({
    name: `${p}serving_generation`, help: 'The reload generation that serves traffic (0 at start, +1 per successful reload).', registers,
    collect() { this.set(master.generation); },
  });
  new prom.Gauge({
    name: `${p}workers_desired`, help: 'Worker slots the master keeps filled (the WORKERS setting).', registers,
    collect() { this.set(master.options.workers); },
  });
  new prom.Gauge({
    name: `${p}workers`, help: 'Live workers by state (forked, online, listening, ready, disconnecting) and generation.', labelNames: ['state', 'generation'], registers,
    collect() {
      this.reset();
      for (const w of master.workers) this.inc({ state: w.state, generation: String(w.generation) });
    },
  });
  new prom.Gauge({
    name: `${p}reload_in_progress`, help: '1 while a rolling reload runs, else 0.', registers,
    collect() { this.set(reloadStarted.size > 0 ? 1 : 0); },
  });
  const reloads = new prom.Counter({ name: `${p}reloads_total`, help: 'Rolling reloads by outcome: ok, or failed (rolled back: the old generation kept serving).', labelNames: ['outcome'], registers });
  const duration = new prom.Histogram({
    name: `${p}reload_duration_seconds`, help: 'How long reloads took, from the start until every old worker had exited (ok) or the reload was given up (failed).',
    labelNames: ['outcome'], buckets: options.reloadBuckets, registers,
  });
  for (const outcome of ['ok', 'failed']) {
    reloads.inc({ outcome }, 0); // both series exist from the start: a dashboard's rate() needs no first event
    duration.zero({ outcome });
  }
  const crashes = new prom.Counter({ name: `${p}worker_crashes_total`, help: 'Workers that exited without being retired (crashed, killed by the OOM killer...), by slot.', labelNames: ['slot'], registers });
  const restarts = new prom.Counter({ name: `${p}worker_restarts_total`, help: 'Workers forked to replace a crashed one, by slot.', labelNames: ['slot'], registers });
  const replaced = new prom.Counter({ name: `${p}worker_replacements_total`, help: 'Workers replaced while serving (fork new, retire old: the monitor\'s limits, replace() calls), by slot.', labelNames: ['slot'], registers });
  const killed = new prom.Counter({ name: `${p}worker_kills_total`, help: 'Retired workers that had to be SIGKILLed: not exited within the kill timeout (MAX_KILL_TIMEOUT), by slot.', labelNames: ['slot'], registers });

  const monitor = () => master.plugin<MonitorLike>('monitor');
  const usageOf = (read: (u: { memoryMB: number; cpu: number }) => number) =>
    function collect(this: InstanceType<Prom['Gauge']>) {
      this.reset();
      const usage = monitor()?.usage?.();
      if (!Array.isArray(usage)) return;
      const byPid = new Map<number, WorkerInfo>(master.workers.map((w) => [w.pid, w]));
      for (const u of usage) {
        const w = byPid.get(u.pid);
        if (w) this.set({ slot: String(w.slot), generation: String(w.generation) }, read(u));
      }
    };
  new prom.Gauge({
    name: `${p}worker_resident_memory_bytes`, help: 'Resident memory (RSS) of each worker, by slot and generation, as the monitor plugin last sampled it (absent without the monitor).',
    labelNames: ['slot', 'generation'], registers, collect: usageOf((u) => Math.round(u.memoryMB * 1024 * 1024)),
  });
  new prom.Gauge({
    name: `${p}worker_cpu_ratio`, help: 'CPU use of each worker (1 = one full core), by slot and generation, as the monitor plugin last sampled it (absent without the monitor).',
    labelNames: ['slot', 'generation'], registers, collect: usageOf((u) => u.cpu / 100),
  });

  const listeners: [string, (...args: any[]) => void][] = [
    ['reload:start', (info: { generation: number }) => reloadStarted.set(info.generation, Date.now())],
    ['reload:done', (result: { generation: number; duration: number }) => {
      reloadStarted.delete(result.generation);
      reloads.inc({ outcome: 'ok' });
      duration.observe({ outcome: 'ok' }, result.duration / 1000);
    }],
    ['reload:failed', (info: { generation: number }) => {
      const started = reloadStarted.get(info.generation);
      reloadStarted.delete(info.generation);
      reloads.inc({ outcome: 'failed' });
      if (started !== undefined) duration.observe({ outcome: 'failed' }, (Date.now() - started) / 1000);
    }],
    ['worker:fork', (w: WorkerInfo) => {
      if (w.reason === 'crash') restarts.inc({ slot: String(w.slot) });
    }],
    ['worker:exit', (w: WorkerInfo, exit: { expected: boolean; killed: boolean }) => {
      if (!exit.expected) crashes.inc({ slot: String(w.slot) });
      if (exit.killed) killed.inc({ slot: String(w.slot) });
    }],
    ['slot:replaced', (info: { slot: number }) => replaced.inc({ slot: String(info.slot) })],
  ];
  for (const [event, listener] of listeners) master.on(event, listener);
  return {
    detach() {
      for (const [event, listener] of listeners) master.off(event, listener);
    },
  };
}
