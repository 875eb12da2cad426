// The small vocabulary the master and its workers share over the cluster IPC channel.
// Messages are objects with this one key, so they never collide with an app's own messages.
export const MESSAGE_KEY = 'master-process';

/** What a worker says of the error that ends it, so the master can say in one line why a start or reload failed. */
export interface FatalError {
  name?: string;
  code?: string;
  message: string;
}

export type ControlMessage =
  | { [MESSAGE_KEY]: 'ready' }
  | { [MESSAGE_KEY]: 'fatal'; error: FatalError }
  /** A server listening on a descriptor of the worker's own, which cluster's `listening` does not report. */
  | { [MESSAGE_KEY]: 'listening'; address: { address: string | null; port?: number; addressType: number | string } };

export function isControlMessage(message: unknown, kind: ControlMessage[typeof MESSAGE_KEY]): boolean {
  return typeof message === 'object' && message !== null && (message as Record<string, unknown>)[MESSAGE_KEY] === kind;
}

/** Environment the master gives each worker, beside the original WORKER_INDEX / RELOAD_INDEX / PPID. */
export const ENV = {
  /** Set to "1" in every worker the master forks. */
  WORKER: 'MASTER_PROCESS_WORKER',
  /** The master's kill timeout (ms): how long a retiring worker has to drain. */
  KILL_TIMEOUT: 'MASTER_PROCESS_KILL_TIMEOUT',
  /** "1" when the preload applies the drain to every HTTP server the app creates. */
  AUTO_DRAIN: 'MASTER_PROCESS_AUTO_DRAIN',
  /** "1" when the watchdog is on. */
  WATCHDOG: 'MASTER_PROCESS_WATCHDOG',
} as const;
