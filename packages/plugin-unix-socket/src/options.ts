import { isAbsolute } from 'node:path';
import { assertKnownKeys, invalidValue, MAX_SOCKET_PATH_BYTES, resolveSetting, type ValueSource } from '@master-process/core';

export const PKG = '@master-process/plugin-unix-socket';

export interface UnixSocketOptions {
  /**
   * Absolute path of the socket the app listens on. Default: `PORT` when it starts with `/`
   * (the original master-process convention); without either the plugin does nothing.
   */
  path?: string;
  /** Permissions set on the socket each time a worker listens: `0o664` (default), `"664"`, `"0664"` or `"0o664"`. */
  mode?: number | string;
}

export interface ResolvedUnixSocketOptions {
  /** Undefined: no socket to take care of. */
  path: string | undefined;
  mode: number;
}

export const DEFAULT_MODE = 0o664;

const MODE_FORMS = 'permission bits from 0 to 0o777: a number such as 0o660, or an octal string such as "660", "0660" or "0o660"';

export function parseMode(value: unknown, source: ValueSource): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0o777) return value;
  if (typeof value === 'string') {
    const match = /^\s*(?:0o?)?([0-7]{1,3})\s*$/i.exec(value);
    if (match) return Number.parseInt(match[1]!, 8);
  }
  throw invalidValue(source, value, MODE_FORMS, PKG);
}

function parsePath(value: unknown, source: ValueSource): string | undefined {
  if (source.env !== undefined) {
    // PORT is a TCP port (or something else the app understands) unless it is an absolute path.
    return typeof value === 'string' && value.startsWith('/') ? value : undefined;
  }
  if (typeof value !== 'string' || !isAbsolute(value)) {
    throw invalidValue(source, value, 'an absolute path such as "/run/app/app.sock"', PKG);
  }
  return value;
}

export function resolveUnixSocketOptions(options: UnixSocketOptions = {}, environment: NodeJS.ProcessEnv = process.env): ResolvedUnixSocketOptions {
  assertKnownKeys(options, new Set(['path', 'mode']), { pkg: PKG });
  const path = resolveSetting<string | undefined>({ option: 'path', value: options.path, env: 'PORT', default: undefined, parse: parsePath, environment });
  if (path !== undefined && Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    const source: ValueSource = options.path !== undefined ? { option: 'path' } : { env: 'PORT' };
    throw invalidValue(source, path, `a unix socket path of at most ${MAX_SOCKET_PATH_BYTES} bytes on this system (this one has ${Buffer.byteLength(path)}); use a shorter directory such as /run/<app>/`, PKG);
  }
  const mode = resolveSetting({ option: 'mode', value: options.mode, default: DEFAULT_MODE, parse: parseMode, environment });
  return { path, mode };
}
