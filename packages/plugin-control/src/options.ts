import { readFileSync } from 'node:fs';
import { assertKnownKeys, invalidValue, parseNumber, parseSocketPath, resolveSetting, type ValueSource } from '@master-process/core';
import { defaultName, ENV, parseAbsolute, parseName, PKG, socketCandidates, workingDirectory, type SocketCandidate } from './location.js';

export interface ControlOptions {
  /** The socket's full path (env `MASTER_PROCESS_SOCKET`). Default: `<dir>/<name>.sock`. */
  path?: string;
  /**
   * The folder for `<name>.sock` (env `MASTER_PROCESS_SOCKET_DIR`). Default: `$XDG_RUNTIME_DIR/master-process/`
   * when XDG_RUNTIME_DIR is set, else (or when that fails) `<working directory>/.master-process/`, each created 0700.
   */
  dir?: string;
  /** The master's name, which the CLI's `--name` finds (env `MASTER_PROCESS_NAME`). Default: from the working directory. */
  name?: string;
  /** A group whose members may connect too (a name from /etc/group, or a gid): socket 0660, our folder 0710. Default: none. */
  group?: string | number;
  /** Longest request line in bytes; a longer one gets an error and the connection is closed (default 64 KiB). */
  maxLineBytes?: number;
  /** Clients connected at once; one more gets `MP_ERR_CONTROL_BUSY` (default 32). */
  maxClients?: number;
}

export interface ResolvedControlOptions {
  /** Tried in order until one binds. */
  candidates: SocketCandidate[];
  name: string;
  group?: { gid: number; label: string };
  maxLineBytes: number;
  maxClients: number;
}

const parsePath = (value: unknown, source: ValueSource) => parseSocketPath(value, source, PKG);

/** A gid, or a group name looked up in /etc/group (Node has no getgrnam). */
export function parseGroup(value: unknown, source: ValueSource, groupFile = '/etc/group'): { gid: number; label: string } {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return { gid: value, label: String(value) };
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return { gid: Number(value.trim()), label: value.trim() };
  if (typeof value === 'string' && value.trim() !== '') {
    const name = value.trim();
    let text = '';
    try {
      text = readFileSync(groupFile, 'utf8');
    } catch {
      /* no group file: only gids work */
    }
    for (const line of text.split('\n')) {
      const [group, , gid] = line.split(':');
      if (group === name && gid !== undefined && /^\d+$/.test(gid)) return { gid: Number(gid), label: name };
    }
    throw invalidValue(source, value, `a group name listed in ${groupFile}, or a numeric gid`, PKG);
  }
  throw invalidValue(source, value, 'a group name or a numeric gid', PKG);
}

export function resolveControlOptions(options: ControlOptions = {}, environment: NodeJS.ProcessEnv = process.env): ResolvedControlOptions {
  assertKnownKeys(options, new Set(['path', 'dir', 'name', 'group', 'maxLineBytes', 'maxClients']), { pkg: PKG });
  const path = resolveSetting<string | undefined>({ option: 'path', value: options.path, env: ENV.SOCKET, default: undefined, parse: parsePath, environment });
  const dir = resolveSetting<string | undefined>({ option: 'dir', value: options.dir, env: ENV.DIR, default: undefined, parse: parseAbsolute, environment });
  const cwd = workingDirectory(environment);
  const name = resolveSetting({ option: 'name', value: options.name, env: ENV.NAME, default: defaultName(cwd), parse: parseName, environment });
  const group = options.group === undefined ? undefined : parseGroup(options.group, { option: 'group' });
  const maxLineBytes = resolveSetting({
    option: 'maxLineBytes', value: options.maxLineBytes, default: 64 * 1024, environment,
    parse: (v, s) => parseNumber(v, s, { integer: true, min: 1024, max: 16 * 1024 * 1024 }, PKG),
  });
  const maxClients = resolveSetting({
    option: 'maxClients', value: options.maxClients, default: 32, environment,
    parse: (v, s) => parseNumber(v, s, { integer: true, min: 1, max: 1024 }, PKG),
  });
  return {
    candidates: socketCandidates({ path, dir, name }, { env: environment, cwd }),
    name, maxLineBytes, maxClients,
    ...(group ? { group } : {}),
  };
}
