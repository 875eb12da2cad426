import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fixtures, MasterHandle, type MasterSpec } from './harness.js';

/** python3 for the helper scripts; /usr/bin/python3 first (a version manager's shim is slow to start). */
export const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3'].find((path) => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}) ?? 'python3';

export const socketHolder = fileURLToPath(new URL('../fixtures/socket-holder.py', import.meta.url));

/** Why socket activation cannot be tried on this machine, or undefined when it can. */
export function socketActivationUnavailable(): string | undefined {
  if (spawnSync('systemd-socket-activate', ['--version']).error) return 'systemd-socket-activate is not installed (Debian: apt-get install systemd)';
  if (spawnSync(PYTHON, ['-c', 'import socket']).error) return 'python3 is not installed';
  return undefined;
}

export interface ActivatedOptions {
  /** Where packages resolve from: the directory of the package under test. */
  cwd: string;
  /** What systemd-socket-activate listens on: `127.0.0.1:PORT` or a unix socket path. */
  listen: string;
  /** LISTEN_FDNAMES (default `web`). */
  name?: string;
  /** A datagram socket instead (the holder starts at the first datagram). */
  datagram?: boolean;
  /** A master script of your own instead of the fixture master (e.g. an umbrella `init()` script). */
  script?: string;
  /** The masters' environment (systemd-socket-activate passes nothing else on). */
  env?: Record<string, string>;
  verbose?: boolean;
}

/**
 * The fixture master as systemd would run it with a .socket unit and Restart=always: systemd-socket-activate
 * binds the socket and starts fixtures/socket-holder.py, which keeps it open and restarts the master each time
 * it exits. The handle sees the events of every master in turn; `holder-start` app lines give each one's pid.
 * Resolves once the socket is bound; nothing starts until the first connection (systemd-socket-activate waits for one).
 */
export async function startActivatedMaster(spec: MasterSpec, options: ActivatedOptions): Promise<MasterHandle> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
    MP_MASTER_SPEC: JSON.stringify(spec),
    ...options.env,
  };
  const child = spawn(
    'systemd-socket-activate',
    ['-l', options.listen, ...(options.datagram ? ['--datagram'] : []), `--fdname=${options.name ?? 'web'}`, ...Object.entries(env).flatMap(([k, v]) => ['-E', `${k}=${v}`]), PYTHON, socketHolder, process.execPath, options.script ?? fixtures.master],
    { cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const handle = new MasterHandle(child, options.verbose ?? process.env.MP_TEST_VERBOSE === '1');
  try {
    await handle.until(`systemd-socket-activate to listen on ${options.listen}`, () => handle.output.some((line) => line.startsWith('Listening on ')), 30_000);
  } catch (error) {
    await handle.cleanup();
    throw error;
  }
  return handle;
}

/** The fixture master (or `script`) restarted each time it exits, as by Restart=always, but binding its port itself (no .socket unit). */
export function startRestartedMaster(spec: MasterSpec, options: Omit<ActivatedOptions, 'listen' | 'name' | 'datagram'>): MasterHandle {
  const child = spawn(PYTHON, [socketHolder, process.execPath, options.script ?? fixtures.master], {
    cwd: options.cwd,
    env: { ...process.env, MP_MASTER_SPEC: JSON.stringify(spec), ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  return new MasterHandle(child, options.verbose ?? process.env.MP_TEST_VERBOSE === '1');
}
