// The worker side of master-process: what an app may call from inside a worker.
import cluster from 'node:cluster';
import type { Server } from 'node:net';
import { ENV, MESSAGE_KEY, type ControlMessage } from './protocol.js';
import { installRetirement } from './retire.js';
import { shared, type DrainerView, type RetiringInfo } from './shared.js';

type ListeningReport = Extract<ControlMessage, { address: unknown }>['address'];

export { drain, type DrainableServer, type DrainOptions } from './drain.js';
export { handleProfilerSignal, type ProfilerSignalOptions } from './profiler.js';
export type { RetiringInfo } from './shared.js';
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

const report = (what: string) => (error: unknown) => {
  process.stderr.write(`master-process: ${what} failed: ${(error as Error)?.stack ?? error}\n`);
  process.exitCode = 1;
};

/** True once the master has taken this worker out of rotation. */
export function isRetiring(): boolean {
  return shared().retiring !== undefined;
}

/**
 * Run `fn` as soon as the master takes this worker out of rotation (a reload, `replace()`, a stop), before
 * its servers have drained. The place to close long-lived connections the drain leaves alone: WebSocket
 * connections with 1001 ("going away"), so their clients reconnect, to the new generation. Called at once
 * (on a microtask) when the worker is already retiring. Returns a function that unregisters `fn`.
 */
export function onRetiring(fn: (info: RetiringInfo) => unknown): () => void {
  if (typeof fn !== 'function') throw new TypeError('onRetiring(fn): fn must be a function');
  installRetirement();
  const state = shared();
  const call = (info: RetiringInfo) => {
    try {
      const result = fn(info) as Promise<unknown> | undefined;
      if (typeof result?.then === 'function') result.then(undefined, report('an onRetiring handler'));
    } catch (error) {
      report('an onRetiring handler')(error);
    }
  };
  let registered = true;
  if (state.retiring) queueMicrotask(() => registered && call(state.retiring!));
  else state.events.once('retiring', call);
  return () => {
    registered = false;
    state.events.off('retiring', call);
  };
}

/** Servers reported with reportListening(): the cluster does not know them, so it would not close them. */
const ownServers = new Set<Server>();
let closingOnRetirement = false;

/**
 * On retirement the cluster closes the servers it brokered, waits until they are closed (drained), then
 * calls process.disconnect(). Close our own servers at that point too, and disconnect once they are.
 * If the master died (the orphan grace), close them at once.
 */
function closeOwnServersOnRetirement(): void {
  if (closingOnRetirement) return;
  closingOnRetirement = true;
  shared().events.once('orphaned', () => {
    for (const server of ownServers) if (server.listening) server.close();
  });
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

/** Servers that are part of the drain: listening now, or draining. */
const activeDrainers = (): DrainerView[] => [...shared().drainers].filter((d) => d.listening || d.state !== 'serving');

function closeListening(): void {
  for (const drainer of activeDrainers()) drainer.close();
}

async function untilDrained(retiring: boolean): Promise<void> {
  const drainers = activeDrainers();
  if (drainers.length > 0) {
    await Promise.all(drainers.map((d) => d.whenDrained()));
    return;
  }
  // No server drained by master-process: the cluster's disconnect closes the servers, and comes once
  // they are closed.
  if (retiring && cluster.worker?.isConnected()) await new Promise((resolve) => cluster.worker!.once('disconnect', resolve));
}

function runShutdown(retiring: boolean): Promise<void> {
  shuttingDown ??= (async () => {
    // Retiring: the cluster's disconnect (right behind the retire message) closes the servers.
    if (!retiring) closeListening();
    await untilDrained(retiring);
    for (const handler of handlers) {
      try {
        await handler();
      } catch (error) {
        report('an onShutdown handler')(error);
      }
    }
    // Upgraded connections (WebSocket) the handlers closed finish their closing handshake first; those
    // left open are bounded by the master's kill timeout.
    await Promise.all(activeDrainers().map((d) => d.whenClosed()));
    process.exit();
  })();
  return shuttingDown;
}

/**
 * Close every server (each drains), wait until their HTTP traffic has drained, run the `onShutdown`
 * handlers in order, wait until the servers are closed, then exit (code 0, or 1 if a handler failed).
 */
export function shutdown(): Promise<void> {
  closeListening();
  return runShutdown(false);
}

/**
 * Run `fn` when this worker is retired (reload, `replace()`, stop), once its servers have drained: no HTTP
 * request is left in flight. Also on SIGTERM (then the servers are closed first), and if the master goes
 * away. Handlers run in order and are awaited; then the worker exits once its servers are closed (close
 * WebSocket connections in `onRetiring`, or here). Returns a function that unregisters `fn`.
 */
export function onShutdown(fn: ShutdownHandler): () => void {
  if (typeof fn !== 'function') throw new TypeError('onShutdown(fn): fn must be a function');
  if (!listening) {
    listening = true;
    installRetirement();
    // A SIGTERM during a retirement also closes servers the cluster does not own.
    process.once('SIGTERM', () => void shutdown());
    const state = shared();
    if (state.retiring) void runShutdown(true);
    else state.events.once('retiring', () => void runShutdown(true));
    // The master went away without a word (or is of an older kind): the servers are closed by now.
    cluster.worker?.once('disconnect', () => void runShutdown(false));
  }
  handlers.push(fn);
  return () => {
    const at = handlers.indexOf(fn);
    if (at >= 0) handlers.splice(at, 1);
  };
}
