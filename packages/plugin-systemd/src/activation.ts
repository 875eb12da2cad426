// Socket activation, master half: the descriptors systemd passed stay open in the master (so a restart
// of the master refuses nothing: connections wait in the kernel's backlog) and each worker inherits
// them as its own fd, to listen on them itself (see worker.ts for why not through the primary).
import { createLogger, warn, type ForkContext } from '@master-process/core';
import { activation, PKG, type ListenFd } from './environment.js';
import { describeFd, describeKind } from './proc-sockets.js';
import { SOCKETS_ENV, type WorkerSocket } from './protocol.js';

const log = createLogger('systemd');

export interface ServedSocket extends ListenFd {
  /** What the worker half needs, less its fd number (known per fork). */
  socket: Omit<WorkerSocket, 'fd'>;
}

function servable(fd: number, name: string): ServedSocket | undefined {
  const kind = describeFd(fd);
  if (kind.type === 'tcp' && kind.listening) return { fd, name, socket: { name, type: 'tcp', port: kind.port } };
  if (kind.type === 'unix' && kind.stream && kind.listening) return { fd, name, socket: { name, type: 'unix', ...(kind.path ? { path: kind.path } : {}) } };
  if (kind.type === 'socket') return { fd, name, socket: { name, type: 'unknown' } };
  return undefined;
}

/** The passed sockets the workers can serve (listening TCP or unix stream sockets); the others are named in a warning. */
export function servedSockets(fds: ListenFd[]): ServedSocket[] {
  const served: ServedSocket[] = [];
  for (const { fd, name } of fds) {
    const what = describeKind(describeFd(fd));
    const socket = servable(fd, name);
    if (!socket) {
      warn(`${PKG}: descriptor ${fd} ("${name}") from systemd is ${what}, not a listening TCP or unix stream socket: the workers do not serve it.`);
      continue;
    }
    served.push(socket);
    log('fd %d ("%s"): %s, served by every worker', fd, name, what);
  }
  return served;
}

export interface ActivatedSocket {
  fd: number;
  name: string;
  port?: number;
  path?: string;
}

/**
 * The sockets systemd passed to this process that the workers serve (LISTEN_FDS for this pid, listening
 * TCP or unix stream sockets), e.g. to leave a unix socket systemd owns to systemd. Empty without any.
 */
export function activatedSockets(environment: NodeJS.ProcessEnv = process.env): ActivatedSocket[] {
  const passed = activation(environment, process.pid);
  if (!passed || !('sockets' in passed)) return [];
  return passed.sockets.flatMap(({ fd, name }) => {
    const served = servable(fd, name);
    return served ? [{ fd, name, ...(served.socket.port !== undefined ? { port: served.socket.port } : {}), ...(served.socket.path ? { path: served.socket.path } : {}) }] : [];
  });
}

/** Where the app's `listen(PORT)` lands when PORT names none of the sockets: a warning, once. */
export function checkPort(served: ServedSocket[], port: string | undefined): void {
  if (port === undefined || port === '' || served.length === 0) return;
  const matches = served.some(({ socket }) => (socket.port !== undefined && String(socket.port) === port) || socket.path === port);
  if (matches || served[0]!.socket.type === 'unknown') return;
  const first = served[0]!;
  warn(`${PKG}: PORT=${port} is none of the sockets systemd passed (${served.map(({ fd, socket }) => `fd ${fd}: ${socket.port ?? socket.path}`).join(', ')}); the app's listen on PORT is served on fd ${first.fd} ("${first.name}").`);
}

/** beforeFork: hand the sockets to this worker and tell its worker half where they are. */
export function passSockets(fork: ForkContext, served: ServedSocket[], environment: NodeJS.ProcessEnv): void {
  const sockets: WorkerSocket[] = served.map(({ fd, socket }) => ({ ...socket, fd: 2 + fork.fds.push(fd) }));
  fork.env[SOCKETS_ENV] = JSON.stringify(sockets);
  // An app that listens on PORT needs a PORT: the first socket's, unless the unit sets one.
  const first = served[0]?.socket;
  if ((environment.PORT === undefined || environment.PORT === '') && fork.env.PORT === undefined && first) {
    const port = first.port ?? first.path;
    if (port !== undefined) fork.env.PORT = String(port);
  }
}
