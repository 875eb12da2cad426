import { createHash } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import { invalidValue, type ValueSource } from '@master-process/core';

export const PKG = '@master-process/plugin-control';

/** Environment variables read by the plugin (in the master) and by the CLI, so both find the same socket. */
export const ENV = {
  /** The socket's full path. */
  SOCKET: 'MASTER_PROCESS_SOCKET',
  /** The folder for `<name>.sock`. */
  DIR: 'MASTER_PROCESS_SOCKET_DIR',
  /** The master's name. */
  NAME: 'MASTER_PROCESS_NAME',
} as const;

/** `$XDG_RUNTIME_DIR/<RUNTIME_FOLDER>`, else `<working directory>/<LOCAL_FOLDER>`. */
export const RUNTIME_FOLDER = 'master-process';
export const LOCAL_FOLDER = '.master-process';

const NAME_FORM = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function parseName(value: unknown, source: ValueSource): string {
  if (typeof value === 'string' && NAME_FORM.test(value.trim())) return value.trim();
  throw invalidValue(source, value, '1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. "api")', PKG);
}

export function parseAbsolute(value: unknown, source: ValueSource): string {
  if (typeof value === 'string' && isAbsolute(value)) return value;
  throw invalidValue(source, value, 'an absolute path', PKG);
}

/**
 * The working directory as the user typed it: `$PWD` when it is the same folder as `process.cwd()`.
 * In a release layout (`/srv/app/current` → `releases/42`) the master and a later CLI then agree on it
 * even after `current` moved on, as long as both were started from `/srv/app/current`.
 */
export function workingDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const cwd = process.cwd();
  const pwd = env.PWD;
  if (pwd && isAbsolute(pwd)) {
    try {
      if (realpathSync(pwd) === cwd) return pwd;
    } catch {
      /* PWD is gone */
    }
  }
  return cwd;
}

/** `<folder name>-<8 hex of the path>`: readable, and distinct for two apps in folders of the same name. */
export function defaultName(directory: string): string {
  const base = basename(directory).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 40) || 'root';
  return `${base}-${createHash('sha256').update(directory).digest('hex').slice(0, 8)}`;
}

export interface Location {
  /** The socket's full path: when given, the only one. */
  path?: string;
  /** The folder for `<name>.sock`: when given, the only one. */
  dir?: string;
  name: string;
}

export interface SocketCandidate {
  path: string;
  /** In a folder of ours (not a user's `dir`): created 0700, and tightened if it is looser. */
  ownFolder: boolean;
}

/**
 * Where the socket may be, in order: `path`; else `<dir>/<name>.sock`; else `$XDG_RUNTIME_DIR/master-process/`
 * (when set), then `<working directory>/.master-process/`. A client (`forClient`) also looks in
 * `/run/user/<uid>/master-process/` when its own XDG_RUNTIME_DIR is unset (a cron job, `sudo -u`).
 */
export function socketCandidates(location: Location, options: { env?: NodeJS.ProcessEnv; cwd?: string; forClient?: boolean } = {}): SocketCandidate[] {
  if (location.path !== undefined) return [{ path: location.path, ownFolder: false }];
  const file = `${location.name}.sock`;
  if (location.dir !== undefined) return [{ path: join(location.dir, file), ownFolder: false }];
  const env = options.env ?? process.env;
  const dirs: string[] = [];
  const runtime = env.XDG_RUNTIME_DIR;
  const uid = process.getuid?.();
  if (runtime && isAbsolute(runtime)) dirs.push(join(runtime, RUNTIME_FOLDER));
  else if (options.forClient && uid !== undefined && existsSync(`/run/user/${uid}`)) dirs.push(join(`/run/user/${uid}`, RUNTIME_FOLDER));
  dirs.push(join(options.cwd ?? workingDirectory(env), LOCAL_FOLDER));
  return dirs.map((dir) => ({ path: join(dir, file), ownFolder: true }));
}
