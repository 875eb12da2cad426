// The worker's half of retirement. The master sends `retire`, then `worker.disconnect()` (the cluster's
// own message, which closes the servers and starts their drain). Here:
// - the app hears at once that it is leaving rotation (`onRetiring` in the helper): the moment to close
//   WebSocket connections with 1001 so their clients reconnect to the new generation;
// - an app that listens for SIGTERM is kept alive until SIGTERM comes. Without that, a drained worker
//   whose only handle was its server would exit by itself before the master's SIGTERM reached it, and
//   the app's clean-up would never run;
// - the master is told how the drain goes, and when the HTTP side is drained (only upgraded connections
//   may be left), so it sends SIGTERM then instead of at half the kill timeout.
// A worker whose master died retires the same way, driven from inside (orphan.ts).
import type { OpenConnections } from '../types.js';
import { ENV, MESSAGE_KEY, OPEN_KINDS, isControlMessage, noneOpen, type ControlMessage } from './protocol.js';
import { shared, type WorkerShared } from './shared.js';

export const isManagedWorker = () => process.env[ENV.WORKER] === '1' && typeof process.send === 'function';

/** The master's kill timeout: how long a retiring worker has to drain (also the orphan grace). */
export function killTimeout(): number {
  const ms = Number(process.env[ENV.KILL_TIMEOUT]);
  return Number.isFinite(ms) && ms > 0 ? ms : 5000;
}

let releaseHold: (() => void) | undefined;
let reporter: Reporter | undefined;
/** Set once the master died (see orphan.ts): the end of the drain is acted on here instead of reported. */
let withoutMaster: ((term: boolean) => void) | undefined;

/** The app (or the helper's onShutdown) handles SIGTERM itself: its default action would not kill us. */
export function appListensForSigterm(): boolean {
  return process.listeners('SIGTERM').some((listener) => listener !== releaseHold);
}

/** Listen for the master's `retire` (idempotent across bundles). */
export function installRetirement(): void {
  const state = shared();
  if (state.retirementInstalled || !isManagedWorker()) return;
  state.retirementInstalled = true;
  process.on('message', (message: unknown) => {
    if (isControlMessage(message, 'retire')) retire(state, typeof message.reason === 'string' ? message.reason : 'retired');
  });
}

function retire(state: WorkerShared, reason: string): void {
  if (state.retiring) return;
  state.retiring = Object.freeze({ reason });
  hold();
  reporter = new Reporter(state);
  state.events.on('progress', () => reporter!.poke());
  // The helper's listeners never throw (it wraps them).
  state.events.emit('retiring', state.retiring);
}

/**
 * The master died: retire as it would have (unless it had begun), and call `onDrained(term)` once the HTTP
 * side is drained, `term` saying whether SIGTERM is safe now (the same rule as the master's).
 */
export function retireWithoutMaster(reason: string, onDrained: (term: boolean) => void): void {
  withoutMaster = onDrained;
  retire(shared(), reason);
  reporter?.orphaned();
}

/** Keep the event loop alive until SIGTERM (at most the kill timeout) when the app listens for it. */
function hold(): void {
  if (!appListensForSigterm()) return;
  // Not unref'd on purpose: holding the loop is its job.
  const timer = setTimeout(() => releaseHold?.(), killTimeout());
  const release = () => {
    clearTimeout(timer);
    process.off('SIGTERM', release);
  };
  releaseHold = release;
  // After the app's own listeners: the app's handler and its handles decide when the process ends.
  process.on('SIGTERM', release);
}

/** Progress goes to the master at most every REPORT_EVERY ms (the last counts win); `drained` at once. */
const REPORT_EVERY = 100;

class Reporter {
  private last = '';
  private lastAt = 0;
  private done = false;
  /** The `term` of the `drained` report, once sent. */
  private term?: boolean;
  private immediate?: NodeJS.Immediate;
  private throttled?: NodeJS.Timeout;

  constructor(private readonly state: WorkerShared) {}

  /** The master died: a drain already reported ends here, one still going reports here from now on. */
  orphaned(): void {
    if (this.term !== undefined) withoutMaster?.(this.term);
    else this.poke();
  }

  /** Something changed: look once the event loop has handled the rest of this turn's events. */
  poke(): void {
    if (this.done || this.immediate) return;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      this.report();
    });
  }

  private report(): void {
    if (this.done || (!process.connected && !withoutMaster)) return;
    // Servers that never listened are not part of the drain.
    const active = [...this.state.drainers].filter((d) => d.listening || d.state !== 'serving');
    if (active.length === 0) return;
    const open = noneOpen();
    for (const drainer of active) {
      const counts: OpenConnections = drainer.open();
      for (const kind of OPEN_KINDS) open[kind] += counts[kind];
    }
    const drained = active.every((d) => d.state === 'drained' || d.state === 'closed');
    if (drained) {
      this.done = true;
      clearTimeout(this.throttled);
      // SIGTERM's default action would cut the upgraded connections left, unless the app handles it.
      this.term = open.upgraded === 0 || appListensForSigterm();
      // No master to hear a last word: SIGTERM is the worker's own to send (orphan.ts).
      if (withoutMaster) return withoutMaster(this.term);
      const message: ControlMessage = { [MESSAGE_KEY]: 'drained', open, term: this.term };
      // The master's SIGTERM follows this report: the worker halves have their last word first.
      const send = () => process.connected && process.send!(message, undefined, {}, () => {});
      if (this.state.lastWords) void this.state.lastWords().then(send);
      else send();
      return;
    }
    const key = JSON.stringify(open);
    if (key === this.last) return;
    const wait = this.lastAt + REPORT_EVERY - Date.now();
    if (wait > 0) {
      this.throttled ??= setTimeout(() => {
        this.throttled = undefined;
        this.report();
      }, wait).unref();
      return;
    }
    this.last = key;
    this.lastAt = Date.now();
    const message: ControlMessage = { [MESSAGE_KEY]: 'draining', open };
    if (withoutMaster) return;
    // A callback, so a channel that closed meanwhile is no 'error' event: the master's `disconnect` tells it the rest.
    process.send!(message, undefined, {}, () => {});
  }
}
