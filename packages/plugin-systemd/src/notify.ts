// sd_notify(3) driven by the master's events. The sequence systemd sees:
//   start:   STATUS=starting → READY=1 + STATUS (every slot ready)
//   reload:  RELOADING=1 + MONOTONIC_USEC + STATUS → READY=1 + STATUS (done, or failed and rolled back)
//   crash:   STATUS (a worker exited unexpectedly / its slot serves again)
//   stop:    STOPPING=1 + STATUS + EXTEND_TIMEOUT_USEC (the longest the stop can take by the master's own bounds)
//   WATCHDOG=1 every WATCHDOG_USEC/2 while the master's loop runs and a worker serves (or it is stopping).
import { createLogger, warn, type Master, type MasterProcessError, type ReloadResult, type StopInfo, type WorkerExit, type WorkerInfo } from '@master-process/core';
import { PKG } from './environment.js';
import type { Sender } from './sender.js';

const log = createLogger('systemd');

export type Fields = Record<string, string | number>;

/** One message per call, in order, never two at once (the command sender is a process per message). */
export class Notifier {
  private queue: Promise<void> = Promise.resolve();
  private warned = false;

  constructor(
    readonly sender: Sender,
    private readonly address: string,
  ) {}

  notify(fields: Fields): Promise<void> {
    // A field is one line: a newline in a value would start a field of its own.
    const message = Object.entries(fields).map(([key, value]) => `${key}=${String(value).replace(/\s*\n\s*/g, ' ')}`).join('\n');
    const sent = this.queue.then(() => this.sender.send(message)).then(
      () => log('sent %j', message),
      (error: Error) => {
        log('sending %j failed: %s', message, error.message);
        // Never fatal; said once, since the next ones would fail the same way.
        if (this.warned) return;
        this.warned = true;
        warn(`${PKG}: could not notify systemd at ${this.address} (${this.sender.kind} sender): ${error.message}. Is the master started by systemd with Type=notify (and NotifyAccess=all for the systemd-notify fallback)?`);
      },
    );
    this.queue = sent;
    return sent;
  }

  /** Resolves once every message queued so far was handled. */
  idle(): Promise<void> {
    return this.queue;
  }
}

/** CLOCK_MONOTONIC in µs (libuv's hrtime is CLOCK_MONOTONIC on Linux), as RELOADING=1 wants it. */
const monotonicUsec = () => (process.hrtime.bigint() / 1000n).toString();

const serving = (master: Master) => master.workers.filter((w) => w.state === 'ready').length;
const status = (master: Master) => `generation ${master.generation}: ${serving(master)} of ${master.options.workers} worker(s) serving`;
const firstLine = (text: string) => text.split('\n')[0]!.slice(0, 300);

export interface NotifyWiring {
  /** Stop the watchdog and listening to the master; resolves once the last message is out. */
  close(): Promise<void>;
}

export function wireNotifications(master: Master, notifier: Notifier, watchdogMs: number | undefined): NotifyWiring {
  const send = (fields: Fields) => void notifier.notify(fields);
  const listeners: [string, (...args: any[]) => void][] = [
    ['master:ready', () => send({ READY: 1, STATUS: status(master) })],
    ['reload:start', ({ generation }: { generation: number }) =>
      send({ RELOADING: 1, MONOTONIC_USEC: monotonicUsec(), STATUS: `reloading: starting generation ${generation}; ${status(master)}` })],
    ['reload:done', (result: ReloadResult) =>
      send({ READY: 1, STATUS: `reload to generation ${result.generation} done in ${result.duration} ms; ${status(master)}` })],
    ['reload:failed', ({ generation, error }: { generation: number; error: MasterProcessError }) => {
      // A reload cut short by a stop: STOPPING=1 is already out, READY=1 would contradict it.
      if (master.state === 'stopping' || master.state === 'stopped') return;
      send({ READY: 1, STATUS: `reload to generation ${generation} failed, rolled back: ${firstLine(error.message)}; ${status(master)}` });
    }],
    ['worker:exit', (worker: WorkerInfo, exit: WorkerExit) => {
      // A serving worker that crashed; a new one that failed during a reload is the reload's failure to tell.
      if (exit.expected || master.state !== 'running' || worker.readyAt === undefined || worker.generation !== master.generation) return;
      send({ STATUS: `worker ${worker.pid} (slot ${worker.slot}) exited unexpectedly (${exit.signal ?? `code ${exit.code}`}); ${status(master)}` });
    }],
    ['worker:ready', (worker: WorkerInfo) => {
      if (worker.reason === 'crash' && master.state === 'running') send({ STATUS: status(master) });
    }],
    ['master:stopping', (info: StopInfo) => {
      const { killTimeout, hookTimeout } = master.options;
      // Bound of the stop: the delay, the drain (SIGKILL at killTimeout), then the onExit hooks; plus a margin.
      // systemd honours it only where it exceeds TimeoutStopSec=, so a longer TimeoutStopSec= still wins.
      const bound = (info.delay ?? 0) + killTimeout + hookTimeout + 5000;
      send({
        STOPPING: 1,
        STATUS: `stopping (${info.reason}): ${info.delay ? `serving ${info.delay} ms more, then draining` : 'draining'} ${master.workers.length} worker(s)`,
        EXTEND_TIMEOUT_USEC: bound * 1000,
      });
    }],
  ];
  for (const [event, listener] of listeners) master.on(event, listener);

  let timer: NodeJS.Timeout | undefined;
  if (watchdogMs !== undefined) {
    log('watchdog: WATCHDOG=1 every %d ms', watchdogMs);
    // Only a live loop sends, and only while someone serves: a master whose every slot is down (a crash
    // loop backing off) lets systemd's watchdog restart the service. A stop is bounded, so it pings on.
    timer = setInterval(() => {
      if (master.state === 'stopping' || serving(master) > 0) send({ WATCHDOG: 1 });
    }, watchdogMs);
    timer.unref();
  }
  return {
    close() {
      clearInterval(timer);
      for (const [event, listener] of listeners) master.off(event, listener);
      return notifier.idle();
    },
  };
}
