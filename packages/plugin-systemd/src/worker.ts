// Socket activation, worker half: loaded by the preload in every worker, before the app. It makes the
// app's own `server.listen(PORT)` serve the socket systemd passed, with no change to the app.
//
// Why each worker listens on its own copy of the descriptor, exclusively, and not through the primary
// (what `listen({ fd: 3 })` does in a cluster worker): with round-robin the primary accepts, and closes
// the connections it had not handed over when the last worker leaves (resets at every master restart);
// with SCHED_NONE the primary closes its fd 3 once no worker holds it (then nothing serves). Here every
// worker accepts on the one shared socket; a worker that goes only closes its copy, and connections
// keep waiting in the kernel's backlog, even while no master runs at all. A worker whose master died
// closes its copy too, then finishes what it had accepted: the core's orphan grace (reportListening()
// makes these servers part of it).
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { resolve } from 'node:path';
import { reportListening } from '@master-process/core/worker';
import { SOCKETS_ENV, type WorkerSocket } from './protocol.js';

type ListenArgs = unknown[];

interface Requested {
  port?: number;
  path?: string;
  backlog?: number;
}

const toNumber = (value: unknown) => (typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value)) ? Number(value) : undefined);

/** What a `listen(...)` call asks for, in Node's own argument forms; undefined for a handle or fd. */
export function requested(args: ListenArgs): Requested | undefined {
  const [first] = args;
  const backlog = toNumber(args[1]) ?? toNumber(args[2]);
  if (typeof first === 'number' || toNumber(first) !== undefined) return { port: toNumber(first), ...(backlog !== undefined ? { backlog } : {}) };
  if (typeof first === 'string') return { path: resolve(first), ...(backlog !== undefined ? { backlog } : {}) };
  if (first === null || typeof first !== 'object') return undefined;
  const options = first as { port?: unknown; path?: unknown; backlog?: unknown; fd?: unknown; handle?: unknown; _handle?: unknown };
  if (options.fd !== undefined || options.handle !== undefined || options._handle !== undefined) return undefined;
  const optionsBacklog = toNumber(options.backlog) ?? backlog;
  if (typeof options.path === 'string') return { path: resolve(options.path), ...(optionsBacklog !== undefined ? { backlog: optionsBacklog } : {}) };
  const port = toNumber(options.port);
  return port !== undefined ? { port, ...(optionsBacklog !== undefined ? { backlog: optionsBacklog } : {}) } : undefined;
}

/**
 * The inherited socket a listen is for: the one bound to the same port or path; else, for a listen on
 * PORT (the variable the master set), the first socket. Listens on anything else (a metrics port, port 0)
 * are the app's own. A socket serves one server per worker.
 */
export function pick(sockets: readonly WorkerSocket[], asked: Requested, used: ReadonlySet<number>, port = process.env.PORT): WorkerSocket | undefined {
  const free = sockets.filter((s) => !used.has(s.fd));
  const same = free.find((s) => (asked.port ? s.port === asked.port : asked.path !== undefined && s.path === asked.path));
  if (same) return same;
  if (port === undefined || port === '') return undefined;
  const onPort = asked.port !== undefined ? String(asked.port) === port : asked.path !== undefined && port.startsWith('/') && resolve(port) === asked.path;
  return onPort ? free[0] : undefined;
}

/** The kernel's cap on a listen backlog: what systemd's Backlog= defaults to, and what a re-listen must keep. */
function somaxconn(): number {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()) || 511;
  } catch {
    return 511;
  }
}

/**
 * A pipe (unix socket) descriptor has no exclusive form of `listen` in a worker (Node 20-24 take the
 * handle route only for TCP), so `listen({ fd })` would go through the primary. Node's listenInCluster
 * reads `cluster.isPrimary` synchronously to choose; for that one call the worker listens as a primary
 * would, on its own descriptor.
 */
function asPrimary<T>(fn: () => T): T {
  const flags = cluster as { isPrimary: boolean }; // typed read-only, a plain property at run time
  const was = flags.isPrimary;
  flags.isPrimary = true;
  try {
    return fn();
  } finally {
    flags.isPrimary = was;
  }
}

export function serveInherited(sockets: readonly WorkerSocket[]): void {
  const used = new Set<number>();
  const backlog = somaxconn();
  const proto = net.Server.prototype;
  const listen = proto.listen as (this: net.Server, ...args: ListenArgs) => net.Server;
  proto.listen = function listenOnInherited(this: net.Server, ...args: ListenArgs) {
    const asked = requested(args);
    const socket = asked && pick(sockets, asked, used);
    if (!socket) return listen.apply(this, args);
    used.add(socket.fd);
    const callback = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : undefined;
    // listen() on a listening socket sets its backlog anew: keep systemd's (the kernel's cap) unless the app asked.
    const rest = [asked.backlog ?? backlog, ...(callback ? [callback] : [])];
    // The master waits for this worker's listening; cluster reports only the listens the primary brokered.
    this.once('listening', () => reportListening(this, socket.path ?? `fd:${socket.fd}`));
    if (socket.type === 'tcp') return listen.call(this, new net.Socket({ fd: socket.fd, readable: false, writable: false }), ...rest);
    return asPrimary(() => listen.call(this, { fd: socket.fd }, ...rest));
  } as typeof proto.listen;
}

/** The worker half's entry: serve the sockets the master passed to this worker, if any. */
export default function systemdWorker(): void {
  const raw = process.env[SOCKETS_ENV];
  if (!raw) return;
  // Not for the app's own child processes: the descriptors are this worker's.
  delete process.env[SOCKETS_ENV];
  serveInherited(JSON.parse(raw) as WorkerSocket[]);
}
