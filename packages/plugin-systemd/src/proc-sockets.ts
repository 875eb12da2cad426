// What a descriptor systemd passed is, read from /proc without touching the descriptor: its inode from
// /proc/self/fd, then the socket of that inode in /proc/net/{tcp,tcp6,udp,udp6,unix}. Taking the
// descriptor into a Node handle to ask it would tie it to this process: the master only hands it on.
import { readFileSync, readlinkSync } from 'node:fs';

export type FdKind =
  | { type: 'tcp'; host: string; port: number; listening: boolean }
  | { type: 'unix'; path?: string; stream: boolean; listening: boolean }
  | { type: 'udp'; host: string; port: number }
  /** A socket not found in this network namespace's tables (PrivateNetwork=, another namespace). */
  | { type: 'socket' }
  | { type: 'other'; what: string }
  | { type: 'closed' };

const read = (file: string) => {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(1);
  } catch {
    return [];
  }
};

/** `0100007F` (/proc/net/tcp, little-endian words) → `127.0.0.1`; 32 hex digits → an IPv6 address. */
export function procAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => [w.slice(6, 8), w.slice(4, 6), w.slice(2, 4), w.slice(0, 2)].map((b) => Number.parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  // Compress the longest run of zero groups, as addresses are usually written.
  let best = { at: -1, length: 0 };
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j === i ? i + 1 : j;
  }
  if (best.length < 2) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.length).join(':')}`;
}

function inet(file: string, inode: string): { host: string; port: number; state: string } | undefined {
  for (const line of read(file)) {
    const cols = line.trim().split(/\s+/);
    if (cols[9] !== inode) continue;
    const [hex, port] = cols[1]!.split(':');
    return { host: procAddress(hex!), port: Number.parseInt(port!, 16), state: cols[3]! };
  }
  return undefined;
}

const TCP_LISTEN = '0A';
const SO_ACCEPTCON = 0x10000;
const UNIX_STREAM = '0001';

export function describeFd(fd: number): FdKind {
  let link: string;
  try {
    link = readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return { type: 'closed' };
  }
  const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
  if (!inode) return { type: 'other', what: link };
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const found = inet(file, inode);
    if (found) return { type: 'tcp', host: found.host, port: found.port, listening: found.state === TCP_LISTEN };
  }
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    const found = inet(file, inode);
    if (found) return { type: 'udp', host: found.host, port: found.port };
  }
  for (const line of read('/proc/net/unix')) {
    // Num RefCount Protocol Flags Type St Inode [Path]
    const cols = line.trim().split(/\s+/);
    if (cols[6] !== inode) continue;
    const flags = Number.parseInt(cols[3]!, 16);
    return { type: 'unix', path: cols[7], stream: cols[4] === UNIX_STREAM, listening: (flags & SO_ACCEPTCON) !== 0 };
  }
  return { type: 'socket' };
}

export function describeKind(kind: FdKind): string {
  switch (kind.type) {
    case 'tcp': return `TCP ${kind.host.includes(':') ? `[${kind.host}]` : kind.host}:${kind.port}${kind.listening ? '' : ' (not listening)'}`;
    case 'unix': return `unix ${kind.stream ? 'stream' : 'datagram or seqpacket'} socket ${kind.path ?? '(unnamed)'}${kind.listening ? '' : ' (not listening)'}`;
    case 'udp': return `UDP ${kind.host}:${kind.port}`;
    case 'socket': return 'a socket of another network namespace';
    case 'other': return kind.what;
    case 'closed': return 'not open';
  }
}
