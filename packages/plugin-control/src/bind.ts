import type { Stats } from 'node:fs';
import { chmod, chown, lstat, mkdir, stat } from 'node:fs/promises';
import type net from 'node:net';
import { dirname } from 'node:path';
import { inspectSocketPath, listenPrivately, MAX_SOCKET_PATH_BYTES, removeSocketIfSame, type Logger } from '@master-process/core';
import { ENV, type SocketCandidate } from './location.js';
import type { ResolvedControlOptions } from './options.js';

export type BindResult = { ok: true; path: string; stats: Stats } | { ok: false; warning: string };

const reason = (error: unknown) => (error as NodeJS.ErrnoException).code ?? (error as Error).message;

/**
 * The folder must keep everyone else out. One of ours is created 0700 (0710 with a group, which may then
 * reach the socket but not list the folder) and tightened if it is looser; a user's folder is created the
 * same way when missing and otherwise left as it is: the socket's own mode still shuts others out.
 */
async function prepareFolder(dir: string, own: boolean, group: ResolvedControlOptions['group']): Promise<void> {
  const mode = group ? 0o710 : 0o700;
  // Recursive mkdir resolves with the first folder it created, undefined when the folder was there.
  const created = await mkdir(dir, { mode, recursive: !own }).then((first) => own || first !== undefined, (error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') return false;
    throw error;
  });
  // A folder of ours is never a symlink: that would hand the socket to whoever made the link.
  const found = own ? await lstat(dir) : await stat(dir);
  if (!found.isDirectory()) throw new Error(`${dir} is not a directory`);
  if (!created && !own) return;
  const uid = process.getuid?.();
  if (uid !== undefined && found.uid !== uid) throw new Error(`${dir} belongs to uid ${found.uid}, not to this user (uid ${uid})`);
  if (group) await chown(dir, -1, group.gid);
  if ((found.mode & 0o777) !== mode) await chmod(dir, mode);
}

/**
 * Bind the control socket at the first candidate that works. A stale socket (nobody answers) is removed;
 * a live one (another master) or anything that is not a socket is left alone and ends the search.
 * Never throws: a master without a control socket still serves, so a failure is a warning to print.
 */
export async function bindControlSocket(server: net.Server, settings: ResolvedControlOptions, log: Logger): Promise<BindResult> {
  const tried: string[] = [];
  const attempt = async ({ path, ownFolder }: SocketCandidate): Promise<BindResult | undefined> => {
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
      tried.push(`${path}: longer than the ${MAX_SOCKET_PATH_BYTES} bytes a socket path may have`);
      return undefined;
    }
    try {
      await prepareFolder(dirname(path), ownFolder, settings.group);
    } catch (error) {
      tried.push(`${dirname(path)}: ${reason(error)}`);
      return undefined;
    }
    const found = await inspectSocketPath(path).catch((error: unknown) => ({ state: 'unknown' as const, reason: reason(error) }));
    const nameHint = `give each master its own name (${ENV.NAME}=<name>, or \`master-process start --name <name>\`) and pass the same --name to the CLI`;
    switch (found.state) {
      case 'live':
        return { ok: false, warning: `another process (another master?) serves the control socket ${path}; this master has none. To control both, ${nameHint}.` };
      case 'not-a-socket':
        return { ok: false, warning: `${path} is ${found.kind}, not a socket; it is left untouched and this master has no control socket. Remove it, or ${nameHint}.` };
      case 'unknown':
        return { ok: false, warning: `cannot tell whether the control socket ${path} is still served (${found.reason}); it is left in place and this master has none.` };
      case 'stale':
        if (await removeSocketIfSame(path, found.stats)) log('removed the stale control socket %s (nobody answered)', path);
    }
    try {
      await listenPrivately(server, path);
    } catch (error) {
      if (reason(error) === 'EADDRINUSE') return { ok: false, warning: `${path} was bound by another process meanwhile; this master has no control socket.` };
      tried.push(`${path}: ${reason(error)}`);
      return undefined;
    }
    try {
      if (settings.group) await chown(path, -1, settings.group.gid);
      await chmod(path, settings.group ? 0o660 : 0o600); // already so (umask); stated, not assumed
      return { ok: true, path, stats: await lstat(path) };
    } catch (error) {
      await new Promise((resolve) => server.close(resolve)); // also removes the file
      return { ok: false, warning: `could not set the owner group or mode of the control socket ${path} (${reason(error)}); this master has none.` };
    }
  };
  for (const candidate of settings.candidates) {
    const result = await attempt(candidate);
    if (result) return result;
  }
  return {
    ok: false,
    warning:
      `no control socket (${tried.join('; ')}); the master serves as usual, but \`master-process reload/status/stop\` cannot reach it. ` +
      `Point the socket at a writable folder: ${ENV.DIR}=/path/to/folder (or the control plugin's \`dir\`/\`path\` option, \`master-process start --socket <path>\`).`,
  };
}
