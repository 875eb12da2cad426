// The small vocabulary the master and its workers share over the cluster IPC channel.
// Messages are objects with this one key, so they never collide with an app's own messages.
import type { OpenConnections } from '../types.js';

export const MESSAGE_KEY = 'master-process';

/** What a worker says of the error that ends it, so the master can say in one line why a start or reload failed. */
export interface FatalError {
  name?: string;
  code?: string;
  message: string;
}

/**
 * - `ready` (worker → master): the app called `ready()` (with `readyOn: 'message'`).
 * - `fatal` (worker → master): the error the worker dies of.
 * - `retire` (master → worker): sent right before `worker.disconnect()`; the worker is out of rotation.
 * - `draining` (worker → master): connections still open, sent while the drain goes on (when they change).
 * - `drained` (worker → master): the HTTP side is drained (only upgraded connections may be left);
 *   `term`: the worker can take SIGTERM now (it has no upgraded connection left, or the app listens for SIGTERM).
 * - `listening` (worker → master): a server listening on a descriptor of the worker's own, which cluster's
 *   `listening` does not report (see `reportListening()`).
 */
export type ControlMessage =
  | { [MESSAGE_KEY]: 'ready' }
  | { [MESSAGE_KEY]: 'fatal'; error: FatalError }
  | { [MESSAGE_KEY]: 'retire'; reason: string }
  | { [MESSAGE_KEY]: 'draining'; open: OpenConnections }
  | { [MESSAGE_KEY]: 'drained'; open: OpenConnections; term: boolean }
  | { [MESSAGE_KEY]: 'listening'; address: { address: string | null; port?: number; addressType: number | string } };

export type ControlKind = ControlMessage[typeof MESSAGE_KEY];

export function isControlMessage<K extends ControlKind>(message: unknown, kind: K): message is Extract<ControlMessage, { [MESSAGE_KEY]: K }> {
  return typeof message === 'object' && message !== null && (message as Record<string, unknown>)[MESSAGE_KEY] === kind;
}

export const OPEN_KINDS = ['http', 'upgraded', 'eventStreams', 'http2'] as const satisfies readonly (keyof OpenConnections)[];

export const noneOpen = (): OpenConnections => ({ http: 0, upgraded: 0, eventStreams: 0, http2: 0 });

/** Counts from a worker's message, or undefined when they are not counts (bytes from another process). */
export function parseOpen(value: unknown): OpenConnections | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const open = noneOpen();
  for (const kind of OPEN_KINDS) {
    const n = (value as Record<string, unknown>)[kind];
    if (!Number.isInteger(n) || (n as number) < 0) return undefined;
    open[kind] = n as number;
  }
  return open;
}

/** Environment the master gives each worker, beside the original WORKER_INDEX / RELOAD_INDEX / PPID. */
export const ENV = {
  /** Set to "1" in every worker the master forks. */
  WORKER: 'MASTER_PROCESS_WORKER',
  /** The master's kill timeout (ms): how long a retiring worker has to drain. */
  KILL_TIMEOUT: 'MASTER_PROCESS_KILL_TIMEOUT',
  /** "1" when the preload applies the drain to every HTTP server the app creates. */
  AUTO_DRAIN: 'MASTER_PROCESS_AUTO_DRAIN',
  /** "1" when stderr is a pipe to the master (captureStderr): the preload makes its writes blocking. */
  STDERR_PIPED: 'MASTER_PROCESS_STDERR_PIPED',
} as const;
