// State the worker's entry points share. tsup builds the preload and the `worker` helper as separate
// bundles, each with its own copy of every module: a module-level Set in one is invisible to the other
// (the helper's onShutdown never saw the servers the preload drains). So the state lives on `process`,
// under one global symbol, and is created by whichever bundle loads first. Keep its shape stable: an app
// may import the helper from a different version of the package than the preload's.
import { EventEmitter } from 'node:events';
import type { OpenConnections } from '../types.js';

/** What the retirement code needs from a server's drainer, whichever bundle created it. */
export interface DrainerView {
  /** `serving` until `server.close()`; `drained`: only upgraded connections left; `closed`: nothing left. */
  readonly state: 'serving' | 'draining' | 'drained' | 'closed';
  /** The server accepts connections. */
  readonly listening: boolean;
  open(): OpenConnections;
  /** Starts the drain (`server.close()`) if it has not started. */
  close(): void;
  whenDrained(): Promise<void>;
  whenClosed(): Promise<void>;
}

export interface RetiringInfo {
  /** Why the master retires this worker: `replaced by generation 3`, `SIGTERM`, `stop`, ... */
  reason: string;
}

export interface WorkerShared {
  readonly drainers: Set<DrainerView>;
  /** `retiring` (RetiringInfo), once; `progress` whenever a drain moved on; `orphaned` once, if the master died. */
  readonly events: EventEmitter;
  retiring?: RetiringInfo;
  retirementInstalled?: boolean;
  orphanGraceInstalled?: boolean;
  /**
   * Runs the worker halves' `beforeDisconnect` handlers, once (later calls get the same promise), within
   * a bound. The retirement awaits it before it reports `drained` (the master's SIGTERM follows that
   * report) and before the channel closes. Absent without worker halves.
   */
  lastWords?: () => Promise<void>;
}

const kShared = Symbol.for('master-process.worker');

export function shared(): WorkerShared {
  const holder = process as unknown as { [kShared]?: WorkerShared };
  holder[kShared] ??= { drainers: new Set(), events: new EventEmitter().setMaxListeners(0) };
  return holder[kShared];
}
