// How a notify message reaches systemd. Node cannot send a unix datagram by itself (`dgram` has no
// unix_dgram, nodejs/node#29339; `net` refuses a datagram socket with EPROTOTYPE), so:
// - `native`: node-unix-socket, an optional dependency with prebuilt N-API binaries (no compiler at
//   install). The datagram leaves from the master's own pid, so `NotifyAccess=main` works. It cannot
//   address an abstract socket (it cuts the name at its first NUL byte), so it serves socket paths only.
// - `command`: systemd's own `systemd-notify`. It handles every address form. It sends from its own pid
//   unless it runs as root, so the unit needs `NotifyAccess=all` otherwise; it waits (BARRIER=1) until
//   systemd has read the message, up to 5 s.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';
import { isExecutable } from '@master-process/core';
import type { NotifyAddress } from './environment.js';

export interface Sender {
  readonly kind: 'native' | 'command';
  /** Resolves once the datagram was sent (native) or systemd-notify exited 0 (command). */
  send(message: string): Promise<void>;
}

interface DgramSocket {
  sendTo(buf: Buffer, offset: number, length: number, path: string, callback: (error?: Error) => void): void;
  close(): void;
  on(event: 'error', listener: (error: Error) => void): void;
}

/** The native module's socket class, or why it cannot be loaded (not installed, no binary for this platform). */
export function loadNative(): { DgramSocket: new () => DgramSocket } | { error: string } {
  try {
    const { DgramSocket } = createRequire(import.meta.url)('node-unix-socket') as { DgramSocket: new () => DgramSocket };
    return { DgramSocket };
  } catch (error) {
    return { error: (error as Error).message.split('\n')[0]! };
  }
}

/**
 * One socket per burst of messages, closed as soon as nothing is left to send: an open socket of the
 * native module would hold the event loop, and nothing of a stopped master may.
 */
export function nativeSender(path: string, DgramSocket: new () => DgramSocket): Sender {
  return {
    kind: 'native',
    send: (message) =>
      new Promise<void>((resolve, reject) => {
        const socket = new DgramSocket();
        socket.on('error', () => {}); // the send callback reports the failure
        const buffer = Buffer.from(message);
        const done = (error?: Error) => {
          socket.close();
          if (error) reject(error);
          else resolve();
        };
        try {
          socket.sendTo(buffer, 0, buffer.length, path, done);
        } catch (error) {
          done(error as Error);
        }
      }),
  };
}

/** An executable `name` on PATH, or undefined. */
export function findCommand(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** systemd-notify waits up to 5 s for systemd to read the message (its barrier); give it a little more. */
const COMMAND_TIMEOUT = 10_000;

export function commandSender(command: string, address: NotifyAddress): Sender {
  return {
    kind: 'command',
    send: (message) =>
      new Promise<void>((resolve, reject) => {
        execFile(command, message.split('\n'), { env: { ...process.env, NOTIFY_SOCKET: address.address }, timeout: COMMAND_TIMEOUT }, (error, _stdout, stderr) => {
          if (!error) return resolve();
          const why = stderr.trim() || (error.killed ? `no answer within ${COMMAND_TIMEOUT} ms` : error.message);
          reject(new Error(`${command} failed: ${why}`));
        });
      }),
  };
}
