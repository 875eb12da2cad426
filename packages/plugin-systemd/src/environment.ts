// What systemd tells a service through its environment (sd_notify(3), sd_watchdog_enabled(3),
// sd_listen_fds(3)), read the way libsystemd reads it, and refused clearly when it is malformed.
import { invalidValue, parseNumber, type ValueSource } from '@master-process/core';

export const PKG = '@master-process/plugin-systemd';

/** The variables systemd sets for the master that its workers must never see. */
export const NOTIFY_VARIABLES = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'] as const;
export const LISTEN_VARIABLES = ['LISTEN_PID', 'LISTEN_FDS', 'LISTEN_FDNAMES'] as const;

/** First descriptor of the sockets systemd passes (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

export interface NotifyAddress {
  /** `path`: a socket file; `abstract`: `@name` (Linux abstract namespace); `vsock`: `vsock:CID:PORT` (systemd >= 253). */
  kind: 'path' | 'abstract' | 'vsock';
  address: string;
}

export function notifyAddress(environment: NodeJS.ProcessEnv): NotifyAddress | undefined {
  const raw = environment.NOTIFY_SOCKET;
  if (raw === undefined || raw === '') return undefined;
  if (raw.startsWith('/')) return { kind: 'path', address: raw };
  if (raw.startsWith('@') && raw.length > 1) return { kind: 'abstract', address: raw };
  if (/^vsock(-stream|-dgram|-seqpacket)?:/.test(raw)) return { kind: 'vsock', address: raw };
  throw invalidValue({ env: 'NOTIFY_SOCKET' }, raw, 'an absolute socket path, "@name" for an abstract socket, or "vsock:CID:PORT" (systemd sets it for Type=notify services)', PKG);
}

const integer = (source: ValueSource, value: string, min: number) => parseNumber(value, source, { integer: true, min }, PKG);

/**
 * How often to send WATCHDOG=1 (ms): half of WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends.
 * Undefined without `WatchdogSec=`, or when WATCHDOG_PID names another process (the pings are not ours).
 */
export function watchdogInterval(environment: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = environment.WATCHDOG_USEC;
  if (usec === undefined || usec === '') return undefined;
  const micros = integer({ env: 'WATCHDOG_USEC' }, usec, 1);
  const owner = environment.WATCHDOG_PID;
  if (owner !== undefined && owner !== '' && integer({ env: 'WATCHDOG_PID' }, owner, 1) !== pid) return undefined;
  return Math.max(1, Math.floor(micros / 2000));
}

export interface ListenFd {
  fd: number;
  /** From LISTEN_FDNAMES (the socket unit's `FileDescriptorName=`, by default its name); `unknown` without it. */
  name: string;
}

export type Activation =
  | { sockets: ListenFd[] }
  /** LISTEN_FDS was meant for another process (a wrapper that forked): the descriptors are not ours. */
  | { foreignPid: number };

/** The sockets systemd passed to this process (sd_listen_fds_with_names), or undefined when there are none. */
export function activation(environment: NodeJS.ProcessEnv, pid: number): Activation | undefined {
  const rawCount = environment.LISTEN_FDS;
  if (rawCount === undefined || rawCount === '') return undefined;
  const rawPid = environment.LISTEN_PID;
  if (rawPid === undefined || rawPid === '') {
    throw invalidValue({ env: 'LISTEN_PID' }, rawPid, 'the pid of the process the sockets are for; systemd sets it with LISTEN_FDS', PKG);
  }
  const listenPid = integer({ env: 'LISTEN_PID' }, rawPid, 1);
  const count = integer({ env: 'LISTEN_FDS' }, rawCount, 0);
  if (listenPid !== pid) return { foreignPid: listenPid };
  if (count === 0) return undefined;
  const rawNames = environment.LISTEN_FDNAMES;
  const names = rawNames === undefined || rawNames === '' ? [] : rawNames.split(':');
  if (names.length > 0 && names.length !== count) {
    throw invalidValue({ env: 'LISTEN_FDNAMES' }, rawNames, `${count} colon-separated names, one per descriptor in LISTEN_FDS=${count}`, PKG);
  }
  return { sockets: Array.from({ length: count }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: names[i] ?? 'unknown' })) };
}
