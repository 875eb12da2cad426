// The app's metrics, summed over the workers (prom-client's AggregatorRegistry rules), cumulative across
// reloads and crashes:
// - each worker's last snapshot is kept (from a scrape, or the one it sends right before it disconnects);
// - when a worker exits, the monotonic part of its last snapshot (counters, histograms, summaries' sum and
//   count) is folded into `retired`, which every later scrape adds: a counter never goes backwards;
// - a worker that does not answer a scrape in time counts with its last snapshot's monotonic part (its
//   gauges are left out) and the miss is counted, so the scrape still answers, and still adds up.
import type { Master, WorkerInfo, WorkerReply } from '@master-process/core';
import type { Prom } from './prom.js';
import { asSnapshot, fold, monotonicPart, type MetricJson } from './snapshot.js';
import { COLLECT, FINAL, NAME } from './wire.js';

type Registry = InstanceType<Prom['Registry']>;

export interface ScrapeResult {
  /** The app's metrics as one registry, ready for `metrics()`. */
  registry: Registry;
  /** Workers asked, and which of them answered. */
  asked: number;
  answered: number;
}

export class AppMetrics {
  /** Live workers by pid, with their last snapshot (absent until one came). */
  private readonly live = new Map<number, MetricJson[] | undefined>();
  private retired: MetricJson[] = [];
  private inFlight?: Promise<ScrapeResult>;
  private readonly listeners: [string, (...args: any[]) => void][];

  constructor(
    private readonly prom: Prom,
    private readonly master: Master,
    private readonly timeout: number,
    private readonly onError: (reason: 'timeout' | 'failed' | 'invalid', worker: WorkerInfo, message: string) => void,
  ) {
    this.listeners = [
      ['worker:fork', (w: WorkerInfo) => this.live.set(w.pid, undefined)],
      ['worker:exit', (w: WorkerInfo) => this.retire(w.pid)],
      ['plugin:message', (w: WorkerInfo, message: { plugin: string; type: string; payload: unknown }) => {
        if (message.plugin !== NAME || message.type !== FINAL || !this.live.has(w.pid)) return;
        const last = asSnapshot(message.payload);
        if (last) this.live.set(w.pid, last);
      }],
    ];
    for (const [event, listener] of this.listeners) master.on(event, listener);
  }

  detach(): void {
    for (const [event, listener] of this.listeners) this.master.off(event, listener);
  }

  private retire(pid: number): void {
    const last = this.live.get(pid);
    this.live.delete(pid);
    if (last) this.retired = fold(this.retired, last);
  }

  /** One gather at a time: scrapes that arrive meanwhile share it (and a worker's snapshots stay in order). */
  scrape(): Promise<ScrapeResult> {
    this.inFlight ??= this.gather().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async gather(): Promise<ScrapeResult> {
    const replies: WorkerReply<unknown>[] = await this.master.gather(NAME, COLLECT, undefined, { timeout: this.timeout });
    const fresh = new Map<number, MetricJson[]>();
    for (const reply of replies) {
      const { pid } = reply.worker;
      // Exited while we waited: its last snapshot is in `retired` already.
      if (!this.live.has(pid)) continue;
      const snapshot = reply.ok ? asSnapshot(reply.value) : undefined;
      if (snapshot) {
        this.live.set(pid, snapshot);
        fresh.set(pid, snapshot);
      } else if (reply.ok) {
        this.onError('invalid', reply.worker, 'its answer is not a list of prom-client metrics');
      } else if (reply.error.code !== 'MP_ERR_WORKER_EXIT') {
        this.onError(reply.error.code === 'MP_ERR_REQUEST_TIMEOUT' ? 'timeout' : 'failed', reply.worker, reply.error.message);
      }
    }
    const parts: MetricJson[][] = [this.retired];
    for (const [pid, last] of this.live) {
      const now = fresh.get(pid);
      if (now) parts.push(now);
      else if (last) parts.push(monotonicPart(last)); // retiring, just forked, or did not answer
    }
    return { registry: this.prom.AggregatorRegistry.aggregate(parts.filter((p) => p.length > 0) as never), asked: replies.length, answered: fresh.size };
  }
}
