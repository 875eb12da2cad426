// What the worker side costs at boot, with no load: the fixture app under the naive cluster and under
// master-process with its worker side off, the drain only, and the defaults. Every manager runs at once
// and they are reloaded in turn, so drift on a shared machine hits every variant alike. Per variant: the
// steps of every new worker (fork → online → listening → ready), the reload's duration, and RSS (VmRSS
// from /proc) and CPU time of each new worker, of the root and of the root's other children (the
// watchdog's reaper), read a moment after each reload.
import { freePort, sleep, tempDir } from '@master-process/testkit';
import { startManager, type Manager, type ManagerOptions } from './managers.js';
import { cpuTimeMs, descendantsOf, rssOf, watchExits } from './proc.js';
import { breakdown, type Phase } from './run.js';

export interface BootVariant {
  label: string;
  manager: Omit<ManagerOptions, 'port' | 'tmp'>;
}

export interface BootResult {
  label: string;
  kind: string;
  workers: number;
  /** Reloads that completed. */
  reloads: number;
  /** Per new worker (ms): only fork, online, listening and ready apply. */
  phases: Partial<Record<Phase, number[]>>;
  /** Per new worker: fork → ready (ms). */
  forkReady: number[];
  /** Per reload: the signal → every old worker gone and the manager reported it over (ms). */
  reloadMs: number[];
  /** Per new worker: CPU time (user + system, every thread) it used from its fork to the reading, i.e. its boot (ms; 10 ms ticks). Unlike wall-clock times, it barely depends on what else the machine runs. */
  cpuMs: number[];
  /** Bytes: each new worker, the root, and the root's children that are not workers (summed), at each reading. */
  rss: { worker: number[]; root: number[]; other: number[] };
  /** Pids of the manager (root, workers, any other child) still running after its stop. */
  leftovers: number[];
}

export async function runBoot(variants: BootVariant[], reloads: number, settleMs = 500): Promise<BootResult[]> {
  const tmp = tempDir('mp-boot-');
  const running: { variant: BootVariant; manager: Manager; result: BootResult }[] = [];
  try {
    for (const variant of variants) {
      const manager = await startManager({ ...variant.manager, port: await freePort(), tmp: tmp.path });
      running.push({
        variant,
        manager,
        result: { label: variant.label, kind: variant.manager.kind, workers: variant.manager.workers, reloads: 0, phases: {}, forkReady: [], reloadMs: [], cpuMs: [], rss: { worker: [], root: [], other: [] }, leftovers: [] },
      });
    }
    for (let i = 0; i < reloads; i++) {
      // Rotate who goes first, so no variant always reloads right after the same neighbour.
      for (let k = 0; k < running.length; k++) {
        const { manager, result } = running[(i + k) % running.length]!;
        const old = manager.workerPids();
        const exits = watchExits(old, { timeout: 60_000 });
        const outcome = await manager.reload();
        const gone = await exits;
        if (!outcome.ok || gone.size < old.length) throw new Error(`${result.label}: reload ${i + 1} failed: ${outcome.error ?? 'old workers still running'}`);
        result.reloads++;
        result.reloadMs.push(Math.max(outcome.reportedAt, ...gone.values()) - outcome.signalAt);
        const timeline = manager.timeline();
        for (const [phase, values] of Object.entries(breakdown(outcome, timeline))) {
          if (phase === 'fork' || phase === 'online' || phase === 'listening' || phase === 'ready') (result.phases[phase] ??= []).push(...values);
        }
        for (const pid of outcome.newPids) {
          const t = timeline.get(pid);
          if (t?.fork !== undefined && t.ready !== undefined) result.forkReady.push(t.ready - t.fork);
        }
        await sleep(settleMs);
        const workers = manager.workerPids();
        for (const pid of workers) result.rss.worker.push(rssOf(pid));
        for (const pid of outcome.newPids) {
          const cpu = cpuTimeMs(pid);
          if (cpu !== undefined) result.cpuMs.push(cpu);
        }
        result.rss.root.push(rssOf(manager.rootPid));
        const others = descendantsOf(manager.rootPid).filter((pid) => !workers.includes(pid));
        result.rss.other.push(others.reduce((sum, pid) => sum + rssOf(pid), 0));
      }
    }
    return running.map((r) => r.result);
  } finally {
    for (const { manager, result } of running) result.leftovers = (await manager.stop()).leftovers;
    tmp.remove();
  }
}
