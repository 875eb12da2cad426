import type { Stats } from 'node:fs';
import { lstat, unlink } from 'node:fs/promises';
import net, { type Server } from 'node:net';
import { isAbsolute } from 'node:path';
import { invalidValue, type ValueSource } from './errors.js';

// Unix socket files, for plugins that bind one (the app's socket, a control socket): a killed process
// leaves its socket file behind, and only a connect can tell a stale one from a live one.

/** Longest socket path: sun_path holds 108 bytes on Linux, 104 on macOS and the BSDs, the terminating NUL included. */
export const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

/** How long a connect may take before the socket counts as in use (a live but busy server). */
const PROBE_TIMEOUT = 2000;

/** A setting naming a unix socket to bind: an absolute path that fits in `sun_path`. `pkg` names the package in the error. */
export function parseSocketPath(value: unknown, source: ValueSource, pkg?: string): string {
  if (typeof value !== 'string' || !isAbsolute(value)) throw invalidValue(source, value, 'an absolute path for a unix socket, such as "/run/app/app.sock"', pkg);
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_SOCKET_PATH_BYTES) throw invalidValue(source, value, `a socket path of at most ${MAX_SOCKET_PATH_BYTES} bytes on this system (this one has ${bytes})`, pkg);
  return value;
}

/** What is at a socket path, from the point of view of someone who wants to bind it. */
export type SocketPathState =
  | { state: 'free' }
  /** A socket nobody serves (connect: ECONNREFUSED): safe to remove with `removeSocketIfSame(path, stats)`. */
  | { state: 'stale'; stats: Stats }
  /** A connect succeeded: someone serves it. */
  | { state: 'live' }
  /** A file, a directory, a link...: `kind` says which, for a message. Never ours to delete. */
  | { state: 'not-a-socket'; kind: string }
  /** A socket whose liveness cannot be ruled out (EAGAIN: a full backlog, EACCES, no answer in time). */
  | { state: 'unknown'; reason: string };

const errnoOf = (error: unknown) => (error as NodeJS.ErrnoException).code;

function kindOf(stats: Stats): string {
  if (stats.isFile()) return 'a regular file';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'something that is not a socket';
}

/** `lstat`, or null when nothing is there; other errors (EACCES...) are thrown. */
export async function lstatOrNull(path: string): Promise<Stats | null> {
  try {
    return await lstat(path);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Is anyone serving the socket? Only ECONNREFUSED proves it is stale (bound by a process that is gone);
 * EAGAIN (a full backlog), EACCES or a slow answer cannot rule out a live server.
 */
function probe(path: string): Promise<'live' | 'stale' | 'gone' | { error: string }> {
  return new Promise((resolve) => {
    const socket = net.connect({ path });
    const done = (result: 'live' | 'stale' | 'gone' | { error: string }) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ error: `no answer within ${PROBE_TIMEOUT} ms` }), PROBE_TIMEOUT);
    timer.unref();
    socket.once('connect', () => done('live'));
    socket.once('error', (error) => {
      const code = errnoOf(error);
      done(code === 'ECONNREFUSED' ? 'stale' : code === 'ENOENT' ? 'gone' : { error: code ?? error.message });
    });
  });
}

/** What is at `path` (lstat errors other than ENOENT are thrown). */
export async function inspectSocketPath(path: string): Promise<SocketPathState> {
  const found = await lstatOrNull(path);
  if (found === null) return { state: 'free' };
  if (!found.isSocket()) return { state: 'not-a-socket', kind: kindOf(found) };
  const state = await probe(path);
  if (state === 'live') return { state: 'live' };
  if (state === 'gone') return { state: 'free' };
  if (state === 'stale') return { state: 'stale', stats: found };
  return { state: 'unknown', reason: state.error };
}

// The inode number alone is not enough: ext4 hands a freed one to the next file, and a master removes
// and re-binds a socket when its only worker crashes. The birth time tells them apart.
const sameFile = (a: Stats, b: Stats) => a.dev === b.dev && a.ino === b.ino && a.birthtimeMs === b.birthtimeMs;

/** Unlink `path` only while it is still the socket `expected` (a file put there since is not ours). */
export async function removeSocketIfSame(path: string, expected: Stats): Promise<boolean> {
  const now = await lstatOrNull(path);
  if (now === null || !now.isSocket() || !sameFile(now, expected)) return false;
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Listen on the unix socket `path` with umask 0177, so the socket file is 0600 from the moment it exists:
 * there is no window before a chmod in which someone else could connect. For sockets meant for operators.
 */
export function listenPrivately(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error) => {
      server.off('listening', onListening);
      reject(error);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // In the primary, listen() binds synchronously (net's listenInCluster → _listen2): the umask is ours only for this call.
    const previous = process.umask(0o177);
    try {
      server.listen(path);
    } finally {
      process.umask(previous);
    }
  });
}
