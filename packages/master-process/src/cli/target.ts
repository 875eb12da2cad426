import { resolve } from 'node:path';
import type { MasterProcessError } from '@master-process/core';
import { connectControl, ControlErrorCode, defaultName, ENV, parseName, socketCandidates, workingDirectory, type ControlClient } from '@master-process/plugin-control';
import { EXIT, UsageError, type ExitCode } from './exit-codes.js';
import { flagValue, type FlagSpecs, type FlagValues } from './flags.js';

/** Flags every command that talks to a running master takes. */
export const TARGET_FLAGS: FlagSpecs = {
  socket: { type: 'string', value: '<path>', help: `the master's control socket (env ${ENV.SOCKET})` },
  name: { type: 'string', value: '<name>', help: `the master's name, as given to \`start --name\` (env ${ENV.NAME}; default: from the working directory)` },
};

/** A failure to reach a master, with the exit code it means. */
export class Unreachable extends Error {
  constructor(readonly exitCode: ExitCode, readonly outcome: string, message: string, readonly tried: { path: string; error: string }[]) {
    super(message);
  }
}

/** An environment variable's value through `parse`; a bad one is a usage error naming it. */
function fromEnv(env: NodeJS.ProcessEnv, name: string, parse: (value: unknown, source: { env: string }) => string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  try {
    return parse(raw, { env: name });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^[^\s:]+: /, ''));
  }
}

const absolute = (value: unknown) => resolve(String(value));

/**
 * The socket paths to try: --socket; else the master called --name (in MASTER_PROCESS_SOCKET_DIR, or the
 * default folders); else MASTER_PROCESS_SOCKET; else MASTER_PROCESS_NAME or the name of the working directory.
 */
export function targetPaths(values: FlagValues, env: NodeJS.ProcessEnv = process.env): string[] {
  if (typeof values.socket === 'string') return [resolve(values.socket)];
  const dir = fromEnv(env, ENV.DIR, absolute);
  const named = typeof values.name === 'string' ? flagValue('name', values.name, parseName) : undefined;
  const path = named === undefined ? fromEnv(env, ENV.SOCKET, absolute) : undefined;
  const name = named ?? fromEnv(env, ENV.NAME, parseName) ?? defaultName(workingDirectory(env));
  return socketCandidates({ ...(path ? { path } : {}), ...(dir ? { dir } : {}), name }, { env, forClient: true }).map((c) => c.path);
}

/** Connect to the first candidate that answers as a master; otherwise say what was tried and why it failed. */
export async function connectTarget(values: FlagValues): Promise<ControlClient> {
  const tried: { path: string; error: string; code: string }[] = [];
  for (const path of targetPaths(values)) {
    try {
      return await connectControl(path);
    } catch (error) {
      const code = String((error as MasterProcessError).code);
      if (code === ControlErrorCode.PROTOCOL || code === ControlErrorCode.BUSY) {
        throw new Unreachable(EXIT.PROTOCOL, 'protocol', (error as Error).message, [{ path, error: (error as Error).message }]);
      }
      tried.push({ path, error: (error as Error).message, code });
    }
  }
  const list = tried.map((t) => `  ${t.error}`).join('\n');
  const report = tried.map(({ path, error }) => ({ path, error }));
  if (tried.some((t) => t.code === ControlErrorCode.DENIED)) {
    throw new Unreachable(EXIT.DENIED, 'denied', `permission denied:\n${list}\nRun the command as the master's user (e.g. sudo -u <user> master-process ...).`, report);
  }
  if (tried.some((t) => t.code === ControlErrorCode.STALE)) {
    throw new Unreachable(
      EXIT.NO_MASTER, 'no-master',
      `no master is running:\n${list}\nA master killed without a chance to clean up (SIGKILL, out of memory) leaves its socket behind; start the master again: it removes the stale socket.`,
      report,
    );
  }
  throw new Unreachable(
    EXIT.NO_MASTER, 'no-master',
    `no master is running here. Tried:\n${list}\nStart one with \`master-process start <app.js>\`, or say which master to reach with --socket <path> or --name <name>.`,
    report,
  );
}
