import { access } from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { inspectSocketPath, lstatOrNull, MasterProcessError, removeSocketIfSame, type Logger, type SocketPathState } from '@master-process/core';
import { UnixSocketErrorCode } from './errors.js';
import { PKG } from './options.js';

const errnoOf = (error: unknown) => (error as NodeJS.ErrnoException).code;

/**
 * Before the first fork: make the path free for the workers' `listen`. A stale socket (left by a
 * killed master) is removed; anything else there stops the start, and nothing else is ever deleted.
 */
export async function freeSocketPath(path: string, log: Logger): Promise<void> {
  let found: SocketPathState;
  try {
    found = await inspectSocketPath(path);
  } catch (error) {
    throw new MasterProcessError(UnixSocketErrorCode.UNUSABLE, `${PKG}: cannot inspect the socket path ${path}: ${(error as Error).message}.`, { cause: error });
  }
  switch (found.state) {
    case 'free':
      await assertFolderUsable(path);
      log('%s is free', path);
      return;
    case 'not-a-socket':
      throw new MasterProcessError(
        UnixSocketErrorCode.NOT_A_SOCKET,
        `${PKG}: ${path} is ${found.kind}, not a socket; it is left untouched. Remove or move it yourself, or listen on another path.`,
      );
    case 'live':
      throw new MasterProcessError(
        UnixSocketErrorCode.IN_USE,
        `${PKG}: another process is serving the socket ${path} (a connect succeeded). Stop it first (is another master running on this path?), or listen on another path.`,
      );
    case 'unknown':
      throw new MasterProcessError(
        UnixSocketErrorCode.IN_USE,
        `${PKG}: cannot tell whether the socket ${path} is still served (connect: ${found.reason}); it is left in place. Stop whatever serves it, or remove it if it is stale.`,
      );
    case 'stale':
      if (await removeSocketIfSame(path, found.stats)) log('removed the stale socket %s (nobody served it)', path);
      else log('%s changed while it was inspected; left as it is', path);
  }
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
