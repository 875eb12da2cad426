import { access, lstat, unlink } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import net from 'node:net';
import { MasterProcessError, type Logger } from '@master-process/core';
import { UnixSocketErrorCode } from './errors.js';
import { PKG } from './options.js';

/** How long a connect may take before the socket counts as in use (a live but busy server). */
const PROBE_TIMEOUT = 2000;

type Probe = 'live' | 'stale' | 'gone' | { error: string };

function kindOf(stats: Stats): string {
  if (stats.isFile()) return 'a regular file';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  return 'something that is not a socket';
}

const errnoOf = (error: unknown) => (error as NodeJS.ErrnoException).code;

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
export function probe(path: string): Promise<Probe> {
  return new Promise((resolve) => {
    const socket = net.connect({ path });
    const done = (result: Probe) => {
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

// The inode number alone is not enough: ext4 hands a freed one to the next file, and the master
// removes and re-binds the socket when its only worker crashes. The birth time tells them apart.
const sameFile = (a: Stats, b: Stats) => a.dev === b.dev && a.ino === b.ino && a.birthtimeMs === b.birthtimeMs;

/**
 * Before the first fork: make the path free for the workers' `listen`. A stale socket (left by a
 * killed master) is removed; anything else there stops the start, and nothing else is ever deleted.
 */
export async function freeSocketPath(path: string, log: Logger): Promise<void> {
  let found: Stats | null;
  try {
    found = await lstatOrNull(path);
  } catch (error) {
    throw new MasterProcessError(UnixSocketErrorCode.UNUSABLE, `${PKG}: cannot inspect the socket path ${path}: ${(error as Error).message}.`, { cause: error });
  }
  if (found === null) {
    await assertFolderUsable(path);
    log('%s is free', path);
    return;
  }
  if (!found.isSocket()) {
    throw new MasterProcessError(
      UnixSocketErrorCode.NOT_A_SOCKET,
      `${PKG}: ${path} is ${kindOf(found)}, not a socket; it is left untouched. Remove or move it yourself, or listen on another path.`,
    );
  }
  const state = await probe(path);
  if (state === 'live') {
    throw new MasterProcessError(
      UnixSocketErrorCode.IN_USE,
      `${PKG}: another process is serving the socket ${path} (a connect succeeded). Stop it first (is another master running on this path?), or listen on another path.`,
    );
  }
  if (state === 'gone') return;
  if (state !== 'stale') {
    throw new MasterProcessError(
      UnixSocketErrorCode.IN_USE,
      `${PKG}: cannot tell whether the socket ${path} is still served (connect: ${state.error}); it is left in place. Stop whatever serves it, or remove it if it is stale.`,
    );
  }
  if (await removeIfSame(path, found)) log('removed the stale socket %s (nobody served it)', path);
  else log('%s changed while it was inspected; left as it is', path);
}

/** Every worker's listen would fail on a socket whose folder is missing or read-only: say so once, at start. */
async function assertFolderUsable(path: string): Promise<void> {
  const folder = dirname(path);
  const run = /^\/run\/([^/]+)$/.exec(folder);
  const hint = `Create it${run ? ` (under systemd, \`RuntimeDirectory=${run[1]}\` in the unit creates it for the service)` : ''}, or listen on another path.`;
  let stats: Stats | null;
  try {
    stats = await lstatOrNull(folder);
    if (stats?.isDirectory()) await access(folder, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new MasterProcessError(UnixSocketErrorCode.NO_FOLDER, `${PKG}: cannot create the socket ${path}: its folder ${folder} is not writable (${errnoOf(error) ?? (error as Error).message}). ${hint}`, { cause: error });
  }
  if (!stats?.isDirectory()) {
    throw new MasterProcessError(UnixSocketErrorCode.NO_FOLDER, `${PKG}: cannot create the socket ${path}: its folder ${folder} ${stats ? 'is not a folder' : 'does not exist'}. ${hint}`);
  }
}

/** Unlink `path` only while it is still the socket `expected` (a file put there since is not ours). */
export async function removeIfSame(path: string, expected: Stats): Promise<boolean> {
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
