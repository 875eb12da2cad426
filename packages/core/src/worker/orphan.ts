// The orphan grace: what a worker does when its master dies without retiring it (SIGKILL, the OOM killer, a
// crash). The IPC channel closes, and Node's cluster worker would exit at once on a `disconnect` it did not
// ask for (lib/internal/cluster/child.js), cutting every request in flight. Instead the worker retires as
// the master would have retired it: `onRetiring` handlers (reason `master died`); its servers stop accepting
// (on a port the master bound, no new connection reaches it anyway; on a socket systemd holds, those not yet
// accepted wait in the backlog for the next master) and drain; SIGTERM once drained, at the latest at half
// the kill timeout, so the app's own clean-up runs; at the kill timeout it ends. A worker that cannot run
// this (a blocked event loop) is SIGKILLed at the kill timeout by the master's watchdog (../watchdog.ts).
import cluster from 'node:cluster';
import { isManagedWorker, killTimeout, retireWithoutMaster } from './retire.js';
import { shared, type WorkerShared } from './shared.js';

export const ORPHAN_REASON = 'master died';

/** Listen for the master's death (idempotent across bundles). */
export function installOrphanGrace(): void {
  const state = shared();
  if (state.orphanGraceInstalled || !isManagedWorker() || !cluster.worker) return;
  state.orphanGraceInstalled = true;
  // Before cluster's own listener, which exits unless the disconnect was asked for.
  process.prependOnceListener('disconnect', () => {
    // Asked for: a retirement (or the app's own disconnect), which the master drives.
    if (!cluster.worker!.exitedAfterDisconnect) orphaned(state);
  });
}

function orphaned(state: WorkerShared): void {
  const grace = killTimeout();
  let termSent = false;
  // SIGTERM once, as the master sends it: the app's handler runs; without one, its default action ends us.
  const term = () => {
    if (termSent) return;
    termSent = true;
    process.kill(process.pid, 'SIGTERM');
  };
  setTimeout(term, Math.floor(grace / 2)).unref();
  // What the master's SIGKILL would have done; the watchdog's reaper does the same from outside.
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), grace).unref();
  retireWithoutMaster(ORPHAN_REASON, (safe) => safe && term());
  // The cluster's own disconnect closes the servers the primary brokered (their drain starts), and marks
  // the disconnect as asked for, so cluster does not exit. Its message to the primary goes nowhere.
  cluster.worker!.disconnect();
  // Servers on a descriptor of the worker's own (an exclusive listen, an inherited socket).
  for (const drainer of state.drainers) drainer.close();
  // The helper closes the servers the app reported with reportListening().
  state.events.emit('orphaned');
}
