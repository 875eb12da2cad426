import type { EventArgs, Master, MasterEventName, MasterProcessError, ReloadPhase, ReloadTrigger, WorkerExit, WorkerFailure, WorkerInfo } from '@master-process/core';

/** A worker as the protocol shows it. */
export interface WorkerBrief {
  pid: number;
  slot: number;
  generation: number;
  state: WorkerInfo['state'];
}

/** The new worker that made a reload fail. */
export interface FailureReport {
  worker: WorkerBrief;
  /** Null when it had not exited (not ready in time). */
  exit: { code: number | null; signal: string | null } | null;
  /** The last lines of its stderr (empty when it wrote none, or captureStderr is off). */
  stderr: string[];
}

export interface CurrentReload {
  generation: number;
  trigger: ReloadTrigger;
  startedAt: number;
  /** Undefined until the first batch is spawning (the reload may wait for a slot held by a crash restart). */
  phase?: ReloadPhase;
  slots?: number[];
}

export interface LastReload {
  generation: number;
  trigger: ReloadTrigger;
  outcome: 'ok' | 'failed';
  startedAt: number;
  endedAt: number;
  duration: number;
  error?: { code: string; message: string };
  failure?: FailureReport;
}

export const brief = (w: WorkerInfo): WorkerBrief => ({ pid: w.pid, slot: w.slot, generation: w.generation, state: w.state });

export function failureReport(failure: WorkerFailure): FailureReport {
  const exit: WorkerExit | undefined = failure.exit;
  return {
    worker: brief(failure.worker),
    exit: exit ? { code: exit.code, signal: exit.signal } : null,
    stderr: failure.stderr ? failure.stderr.split('\n') : [],
  };
}

/**
 * Follows the master's events from setup on (before the first fork): the reload in progress and its phase,
 * how the last one ended, and each slot's crash restarts. Signal and control-socket reloads alike.
 */
export class ReloadTracker {
  current?: CurrentReload;
  last?: LastReload;
  /** Crash restarts per slot since the master started. */
  readonly restarts = new Map<number, number>();
  /** Reload errors → how that reload ended, for the request that awaited it. */
  private readonly outcomes = new WeakMap<MasterProcessError, LastReload>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(master: Master) {
    const on = <E extends MasterEventName>(event: E, listener: (...args: EventArgs<E>) => void) => {
      master.on(event, listener);
      this.unsubscribe.push(() => master.off(event, listener));
    };
    on('reload:start', ({ generation, trigger }) => {
      this.current = { generation, trigger, startedAt: Date.now() };
    });
    on('reload:phase', ({ generation, phase, slots }) => {
      if (this.current?.generation === generation) Object.assign(this.current, { phase, slots });
    });
    on('reload:done', ({ generation }) => this.finish(generation, 'ok'));
    on('reload:failed', ({ generation, error, failure }) => {
      const last = this.finish(generation, 'failed', {
        error: { code: String(error.code), message: error.message },
        ...(failure ? { failure: failureReport(failure) } : {}),
      });
      if (last) this.outcomes.set(error, last);
    });
    on('worker:fork', (worker) => {
      if (worker.reason === 'crash') this.restarts.set(worker.slot, (this.restarts.get(worker.slot) ?? 0) + 1);
    });
  }

  /** How the reload that rejected with `error` ended, when it was one that started. */
  outcomeOf(error: unknown): LastReload | undefined {
    return error instanceof Error ? this.outcomes.get(error as MasterProcessError) : undefined;
  }

  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }

  private finish(generation: number, outcome: 'ok' | 'failed', extra: Partial<LastReload> = {}): LastReload | undefined {
    const current = this.current;
    if (current?.generation !== generation) return undefined;
    const endedAt = Date.now();
    this.current = undefined;
    this.last = { generation, trigger: current.trigger, outcome, startedAt: current.startedAt, endedAt, duration: endedAt - current.startedAt, ...extra };
    return this.last;
  }
}
