import type { Stats } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { createLogger, definePlugin, lstatOrNull, packageCompatibility, removeSocketIfSame, type ListeningAddress, type Plugin, type WorkerInfo } from '@master-process/core';
import { resolveUnixSocketOptions, type UnixSocketOptions } from './options.js';
import { freeSocketPath } from './stale-socket.js';

const log = createLogger('unix-socket');

export const NAME = 'unix-socket';
/** `version` and the `core` range, from this package's package.json. */
const compatibility = packageCompatibility(import.meta.url);

/**
 * Takes care of a service that listens on a unix domain socket: frees the path of a stale socket
 * before the first fork, sets the socket's mode each time a worker listens, removes it on exit.
 */
export function unixSocket(options: UnixSocketOptions = {}): Plugin {
  const { path, mode } = resolveUnixSocketOptions(options);
  if (path === undefined) {
    log('no unix socket: neither option `path` nor a PORT starting with "/"');
    return definePlugin({ name: NAME, ...compatibility });
  }
  /** Sockets our workers listened on, with the identity of the file the master bound. */
  const sockets = new Map<string, Stats>();

  return definePlugin({
    name: NAME,
    ...compatibility,

    async setup() {
      log('socket %s, mode %s', path, mode.toString(8));
      await freeSocketPath(path, log);
    },

    async onListening(worker: WorkerInfo, address: ListeningAddress) {
      // -1: a unix socket (or named pipe); an abstract socket ("\0name") has no file to chmod.
      if (address.addressType !== -1 || typeof address.address !== 'string' || !address.address.startsWith('/')) return;
      const socket = address.address;
      if (socket !== path) log('PID/%d listens on %s, not on the configured %s', worker.pid, socket, path);
      // The master binds the socket; when the last worker holding it goes (a crash of the only worker),
      // the file is removed and the next worker's listen creates it anew, with the umask's mode.
      const found = await lstatOrNull(socket);
      if (!found?.isSocket()) {
        log('PID/%d: %s is gone or no longer a socket; mode not set', worker.pid, socket);
        return;
      }
      await chmod(socket, mode);
      sockets.set(socket, found);
      log('PID/%d listening on %s: mode set to %s', worker.pid, socket, mode.toString(8));
    },

    async onExit() {
      const failures: string[] = [];
      for (const [socket, bound] of sockets) {
        try {
          if (await removeSocketIfSame(socket, bound)) log('removed %s', socket);
          else log('%s was already gone (or is no longer our socket): left as it is', socket);
        } catch (error) {
          failures.push(`${socket}: ${(error as Error).message}`);
        }
      }
      sockets.clear();
      if (failures.length) throw new Error(`could not remove ${failures.join('; ')}`);
    },
  });
}
