// The worker side of master-process: what an app may call from inside a worker.
import cluster from 'node:cluster';
import type { Server } from 'node:net';
import { closeAll } from './drain.js';
import { ENV, MESSAGE_KEY, type ControlMessage } from './protocol.js';

type ListeningReport = Extract<ControlMessage, { address: unknown }>['address'];

export { drain, type DrainOptions } from './drain.js';
export { handleProfilerSignal, type ProfilerSignalOptions } from './profiler.js';
export type { WorkerPluginContext, WorkerPluginSetup } from './plugins.js';

/** True inside a worker forked by a master-process master. */
export const isWorker: boolean = cluster.isWorker && process.env[ENV.WORKER] === '1';
/** This worker's slot (`WORKER_INDEX`), 0 outside a master. */
export const workerIndex: number = Number(process.env.WORKER_INDEX ?? 0);
/** This worker's generation (`RELOAD_INDEX`), 0 outside a master. */
export const reloadIndex: number = Number(process.env.RELOAD_INDEX ?? 0);

/**
 * Tell the master this worker is ready for traffic. Needed only when the master runs with
 * `readyOn: 'message'` (apps that warm caches after `listen`). Returns false outside a master.
 */
export function ready(): boolean {
  if (!isWorker || !process.connected || !process.send) return false;
  process.send({ [MESSAGE_KEY]: 'ready' });
  return true;
}

/** Servers reported with reportListening(): the cluster does not know them, so it would not close them. */
const ownServers = new Set<Server>();
let closingOnRetirement = false;

/**
 * On retirement the cluster closes the servers it brokered, waits until they are closed (drained), then
 * calls process.disconnect(). Close our own servers at that point too, and disconnect once they are.
 */
function closeOwnServersOnRetirement(): void {
  if (closingOnRetirement) return;
  closingOnRetirement = true;
  const disconnect = process.disconnect;
  process.disconnect = function retire(this: NodeJS.Process) {
    const open = [...ownServers].filter((server) => server.listening);
    if (!cluster.worker?.exitedAfterDisconnect || open.length === 0) return disconnect.call(process);
    void Promise.all(open.map((server) => new Promise<void>((resolve) => server.close(() => resolve())))).then(() => disconnect.call(process));
  };
}

/**
 * Tell the master that `server` listens. Needed only for a server listening on a descriptor of the
 * worker's own (an exclusive listen, or a socket the worker inherited): cluster's `listening`, which the
 * master waits for, reports only the listens the primary brokered. From then on the master treats it as
 * the cluster's own: the worker is ready (`readyOn: 'listening'`), and when the master retires the worker,
 * the server is closed (drained) before the worker disconnects. `path` names a unix socket whose path Node
 * cannot tell (a server on an inherited descriptor). Returns false outside a master or when the server's
 * address is unknown.
 */
export function reportListening(server: Server, path?: string): boolean {
  const bound = server.address() ?? path ?? null;
  if (!isWorker || !process.connected || !process.send || bound === null) return false;
  const address: ListeningReport = typeof bound === 'string'
    ? { address: bound, addressType: -1 }
    : { address: bound.address, port: bound.port, addressType: String(bound.family).endsWith('6') ? 6 : 4 };
  closeOwnServersOnRetirement();
  ownServers.add(server);
  server.once('close', () => ownServers.delete(server));
  process.send({ [MESSAGE_KEY]: 'listening', address });
  return true;
}

type ShutdownHandler = () => unknown;
const handlers: ShutdownHandler[] = [];
let listening = false;
let shuttingDown: Promise<void> | undefined;

/** Drain every server, run the shutdown handlers in order, then exit 0. */
export function shutdown(): Promise<void> {
  shuttingDown ??= (async () => {
    await closeAll();
    for (const handler of handlers) {
      try {
        await handler();
      } catch (error) {
        process.stderr.write(`master-process: an onShutdown handler failed: ${(error as Error)?.stack ?? error}\n`);
        process.exitCode = 1;
      }
    }
    process.exit();
  })();
  return shuttingDown;
}

/**
 * Run `fn` when this worker is retired: once the master has taken it out of rotation and its servers
 * have drained (the cluster `disconnect`), or on SIGTERM, whichever comes first. Handlers run in order
 * and are awaited; then the worker exits. Returns a function that unregisters `fn`.
 */
export function onShutdown(fn: ShutdownHandler): () => void {
  if (typeof fn !== 'function') throw new TypeError('onShutdown(fn): fn must be a function');
  if (!listening) {
    listening = true;
    process.once('SIGTERM', () => void shutdown());
    // A drained worker with nothing else to do would exit before the master's SIGTERM reaches it.
    cluster.worker?.once('disconnect', () => void shutdown());
  }
  handlers.push(fn);
  return () => {
    const at = handlers.indexOf(fn);
    if (at >= 0) handlers.splice(at, 1);
  };
}
