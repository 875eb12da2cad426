import {
  createLogger, MasterProcessError, warn, type EventArgs, type Master, type MasterEventName, type MasterEvents, type WorkerInfo,
} from '@master-process/core';
import pidusage from 'pidusage';
import { assess, MB, resetCounters, type Counters, type Reading, type Resource } from './assess.js';
import { memHigh, monitoringCommand, replaceFaultyWorker } from './messages.js';
import type { ResolvedMonitorOptions } from './options.js';
import { PauseState } from './pause.js';

const log = createLogger('monitor');

/** The last figures of one watched worker. */
export interface WorkerUsage {
  pid: number;
  slot: number;
  /** Resident memory (RSS), MB. */
  memoryMB: number;
  /** Percent of one core since the previous sample. */
  cpu: number;
  /** Consecutive samples over each limit so far. */
  memoryFailures: number;
  cpuFailures: number;
}

/** Payloads of the events the monitor emits on the master. */
export interface MonitorEvents {
  /** After every sample (one per interval while something is watched and monitoring is not paused). */
  'monitor:sample': [info: { at: number; workers: WorkerUsage[] }];
  /** A worker stayed over a limit: its slot is being replaced. */
  'monitor:replacing': [info: { slot: number; pid: number; reason: string; resource: Resource; memoryMB: number; cpu: number; limit: number }];
  /** The replacement is ready and serves; the faulty worker is retiring. */
  'monitor:replaced': [info: { slot: number; reason: string; resource: Resource; oldPid: number; newPid: number; memoryMB: number; cpu: number; limit: number }];
  'monitor:paused': [info: { source: string; reason?: string; pausedBy: string[] }];
  'monitor:resumed': [info: { source: string; reason?: string }];
}

interface Watched extends Counters {
  readonly pid: number;
  readonly slot: number;
  /** Sampling starts at this time (ready + grace). */
  readonly watchFrom: number;
  replacing: boolean;
  usage?: WorkerUsage;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error));

export class Monitor {
  private master?: Master;
  private readonly watched = new Map<number, Watched>();
  /** Faulty pid → its replacement, filled in by `slot:replaced` while core's replace() runs. */
  private readonly replacements = new Map<number, WorkerInfo | undefined>();
  private readonly pauses = new PauseState();
  private timer?: NodeJS.Timeout;
  private running = false;
  private readonly unsubscribe: (() => void)[] = [];

  constructor(readonly options: ResolvedMonitorOptions) {}

  get paused(): boolean {
    return this.pauses.paused;
  }

  get pausedBy(): string[] {
    return this.pauses.sources;
  }

  usage(): WorkerUsage[] {
    return [...this.watched.values()].flatMap((w) => (w.usage ? [{ ...w.usage }] : []));
  }

  pause(source: string, reason?: string): void {
    if (!this.pauses.pause(source, reason)) return log('pause by %s (%s): already paused by %o', source, reason ?? '-', this.pausedBy);
    log('paused by %s (%s): nothing is sampled until it resumes', source, reason ?? '-');
    this.master?.emit('monitor:paused', { source, ...(reason !== undefined ? { reason } : {}), pausedBy: this.pausedBy });
  }

  resume(source: string, reason?: string): void {
    if (!this.pauses.resume(source)) return log('resume by %s: %s', source, this.paused ? `still paused by ${this.pausedBy.join(', ')}` : 'was not paused');
    // The next CPU figure would span the pause (a profiler's work, say): start counting afresh.
    for (const w of this.watched.values()) resetCounters(w);
    log('resumed by %s (%s)', source, reason ?? '-');
    this.master?.emit('monitor:resumed', { source, ...(reason !== undefined ? { reason } : {}) });
  }

  setup(master: Master): void {
    this.master = master;
    const { grace, interval, maxMemoryMB, maxCpu, memoryFailures, cpuFailures } = this.options;
    log('watching workers every %d ms after %d ms of grace: replace after %d samples over %d MB or %d samples over %d%% CPU',
      interval, grace, memoryFailures, maxMemoryMB, cpuFailures, maxCpu);
    const on = <E extends MasterEventName>(event: E, listener: (...args: MasterEvents[E]) => void) => {
      const typed = listener as (...args: EventArgs<E>) => void;
      master.on(event, typed);
      this.unsubscribe.push(() => master.off(event, typed));
    };
    on('worker:ready', (worker) => {
      const watchFrom = (worker.readyAt ?? Date.now()) + grace;
      this.watched.set(worker.pid, { pid: worker.pid, slot: worker.slot, watchFrom, replacing: false, memoryFailures: 0, cpuFailures: 0, baseline: true });
    });
    on('worker:retire', (worker) => this.forget(worker.pid));
    on('worker:exit', (worker) => this.forget(worker.pid));
    on('slot:replaced', (info) => {
      if (this.replacements.has(info.old.pid)) this.replacements.set(info.old.pid, info.worker);
    });
    on('worker:message', (_worker, message) => {
      const command = monitoringCommand(message);
      if (command === 'pause_monitoring') this.pause('worker', 'pause_monitoring message');
      else if (command === 'resume_monitoring') this.resume('worker', 'resume_monitoring message');
    });
    on('monitoring:pause', (info) => this.pause(...sourceOf(info)));
    on('monitoring:resume', (info) => this.resume(...sourceOf(info)));
    on('master:stopping', () => this.stop());
    this.running = true;
    this.schedule();
  }

  /** Stops sampling for good; no timer or listener of ours is left. */
  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const off of this.unsubscribe.splice(0)) off();
    this.watched.clear();
  }

  private forget(pid: number): void {
    if (this.watched.delete(pid)) log('PID/%d: no longer watched', pid);
  }

  private schedule(): void {
    // One timer for every worker; the next sample is scheduled once this one is done, so samples never overlap.
    if (this.running) this.timer = setTimeout(() => void this.tick(), this.options.interval);
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    if (!this.paused) await this.sample().catch((error) => log('sample failed: %s', errorMessage(error)));
    this.schedule();
  }

  private async sample(): Promise<void> {
    const now = Date.now();
    const due = [...this.watched.values()].filter((w) => !w.replacing && now >= w.watchFrom);
    if (due.length === 0) return;
    const readings = await this.read(due.map((w) => w.pid));
    // Paused or stopped while reading: these figures are not judged.
    if (this.paused || !this.running) return;
    const figures: WorkerUsage[] = [];
    const actions: (() => void)[] = [];
    for (const w of due) {
      if (this.watched.get(w.pid) !== w || w.replacing) continue; // retired meanwhile
      const reading = readings[w.pid];
      if (!reading) {
        // Gone between two samples: a dead worker is the crash handling's business, not a replacement.
        log('PID/%d: usage unreadable (exited?): left to the crash handling', w.pid);
        resetCounters(w);
        continue;
      }
      const verdict = assess(w, reading, this.options);
      w.usage = { pid: w.pid, slot: w.slot, memoryMB: round(reading.memory / MB), cpu: round(reading.cpu), memoryFailures: w.memoryFailures, cpuFailures: w.cpuFailures };
      figures.push(w.usage);
      if (w.memoryFailures > 0 || w.cpuFailures > 0) {
        log('PID/%d: over the limit (%d MB of %d, %d%% CPU of %d): %d memory / %d CPU sample(s) in a row', w.pid, w.usage.memoryMB,
          this.options.maxMemoryMB, w.usage.cpu, this.options.maxCpu, w.memoryFailures, w.cpuFailures);
      }
      if (verdict.replace) {
        const resource = verdict.replace;
        w.replacing = true;
        actions.push(() => void this.replace(w, resource, reading));
      } else if (verdict.memHigh !== undefined) {
        const percent = verdict.memHigh;
        actions.push(() => this.master?.send(w.pid, memHigh(percent)));
      }
    }
    this.master?.emit('monitor:sample', { at: Date.now(), workers: figures });
    for (const act of actions) act();
  }

  /** One batched read for every due worker. */
  private async read(pids: number[]): Promise<Record<number, Reading | null | undefined>> {
    try {
      // maxage: pidusage keeps each pid's last figures (and an open /proc file) for the CPU delta;
      // those of retired workers expire by themselves shortly after.
      return await pidusage([...pids], { maxage: Math.max(3 * this.options.interval, 10_000) });
    } catch (error) {
      // With several pids pidusage leaves a vanished one out; with one it rejects.
      if (pids.length === 1) return {};
      throw error;
    }
  }

  private async replace(w: Watched, resource: Resource, reading: Reading): Promise<void> {
    const master = this.master!;
    const reason = `used too much ${resource}`;
    const limit = resource === 'memory' ? this.options.maxMemoryMB : this.options.maxCpu;
    const figures = { memoryMB: round(reading.memory / MB), cpu: round(reading.cpu), limit };
    const samples = resource === 'memory' ? w.memoryFailures : w.cpuFailures;
    log('PID/%d (slot %d): %s (%o, %d samples in a row over the limit): forking its replacement', w.pid, w.slot, reason, figures, samples);
    master.emit('monitor:replacing', { slot: w.slot, pid: w.pid, reason, resource, ...figures });
    this.replacements.set(w.pid, undefined);
    try {
      // The pid guard: core skips the replace when that worker no longer serves the slot.
      await master.replace(w.slot, reason, { pid: w.pid });
    } catch (error) {
      this.replacements.delete(w.pid);
      if (!this.running) return;
      const code = (error as MasterProcessError).code;
      if (code === 'MP_ERR_STOPPING' || code === 'MP_ERR_WORKER_EXIT') return log('PID/%d: not replaced: %s', w.pid, errorMessage(error));
      const failure = new MasterProcessError(
        'MP_ERR_MONITOR_REPLACE_FAILED',
        `monitor: could not replace worker ${w.pid} (slot ${w.slot}, ${reason}): ${errorMessage(error)}. It keeps serving and stays watched.`,
        { cause: error },
      );
      log(failure.message);
      warn(failure.message);
      master.emit('plugin:error', failure);
      if (this.watched.get(w.pid) === w) {
        w.replacing = false;
        resetCounters(w);
      }
      return;
    }
    const fresh = this.replacements.get(w.pid);
    this.replacements.delete(w.pid);
    if (!fresh) return log('PID/%d: replace skipped: it no longer served slot %d (crashed or reloaded meanwhile)', w.pid, w.slot);
    master.send(fresh.pid, replaceFaultyWorker(reason, w.pid, fresh.pid));
    log('PID/%d (slot %d) replaced by PID/%d: %s %o', w.pid, w.slot, fresh.pid, reason, figures);
    master.emit('monitor:replaced', { slot: w.slot, reason, resource, oldPid: w.pid, newPid: fresh.pid, ...figures });
  }
}

function sourceOf(info?: { source?: unknown; reason?: unknown }): [string, string?] {
  const source = typeof info?.source === 'string' && info.source !== '' ? info.source : 'unknown';
  return typeof info?.reason === 'string' ? [source, info.reason] : [source];
}
