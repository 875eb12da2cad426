// Long-lived connections across reloads: WebSocket, Server-Sent Events and cleartext HTTP/2, on
// testkit's protocols-app.mjs, the same app under every manager. One run = one manager, one protocol:
// clients connected throughout, K reloads one after the other, then what the clients saw.
import http2 from 'node:http2';
import {
  fixtures, freePort, runEventStreamClients, runHttp2Load, runWebSocketClients, sleep, tempDir, waitUntil,
} from '@master-process/testkit';
import { startManager, type Manager, type ManagerOptions } from './managers.js';
import { watchExits } from './proc.js';

export const PROTOCOLS = ['websocket', 'sse', 'h2c'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface ProtocolRunOptions {
  protocol: Protocol;
  label: string;
  manager: Omit<ManagerOptions, 'port' | 'tmp' | 'exec' | 'serving'>;
  /** WebSocket clients, SSE clients, or HTTP/2 sessions (4 streams each). */
  clients: number;
  reloads: number;
  /** Pause between reloads (ms), clients connected. */
  pauseMs: number;
}

export interface ProtocolReload {
  /** Signal → every old worker gone (ms). */
  durationMs: number | null;
  /** Signal → every client on a new worker (WebSocket, SSE; ms), null when some never got there within 20 s. */
  movedMs: number | null;
}

export interface ProtocolResult {
  protocol: Protocol;
  label: string;
  kind: string;
  clients: number;
  /** What went wrong, by kind: WebSocket closes other than 1000/1001, SSE streams cut, HTTP/2 streams failed. */
  abnormal: Record<string, number>;
  abnormalTotal: number;
  /** What went right: 1001 closes, SSE streams ended cleanly, GOAWAYs received; plus retried unprocessed HTTP/2 streams. */
  clean: Record<string, number>;
  reloads: ProtocolReload[];
  /** Workers the manager had to SIGKILL (master-process reports it; PM2 does not say). */
  killed?: number;
  leftovers: number[];
}

/** The pid of one GET / on a new HTTP/2 session. */
function probeH2(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => resolve(undefined));
    const stream = session.request({ ':path': '/' });
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (body += c));
    stream.on('end', () => {
      session.close();
      try {
        resolve(Number(JSON.parse(body).pid) || undefined);
      } catch {
        resolve(undefined);
      }
    });
    stream.on('error', () => {
      session.destroy();
      resolve(undefined);
    });
  });
}

async function waitServingH2(port: number, workers: number): Promise<void> {
  const seen = new Set<number>();
  await waitUntil(async () => {
    const pid = await probeH2(port);
    if (pid) seen.add(pid);
    return seen.size >= workers;
  }, 60_000, `${workers} HTTP/2 workers on port ${port}`);
}

const add = (into: Record<string, number>, kind: string, n = 1) => {
  if (n > 0) into[kind] = (into[kind] ?? 0) + n;
};

export async function runProtocol(options: ProtocolRunOptions): Promise<ProtocolResult> {
  const tmp = tempDir('mp-bench-proto-');
  const port = await freePort();
  const { protocol } = options;
  let manager: Manager | undefined;
  try {
    manager = await startManager({
      ...options.manager,
      port,
      tmp: tmp.path,
      exec: fixtures.protocolsApp,
      app: { ...options.manager.app, env: { PROTO: protocol === 'websocket' ? 'ws' : protocol, ...options.manager.app.env } },
      ...(protocol === 'h2c' ? { serving: waitServingH2 } : {}),
    });
    const abnormal: Record<string, number> = {};
    const clean: Record<string, number> = {};
    const reloads: ProtocolReload[] = [];

    // Each client's current worker, to see when all of them have moved to new code.
    let currentPids: () => number[] = () => [];
    let finish: () => Promise<void>;
    if (protocol === 'websocket') {
      const clients = runWebSocketClients({ url: `ws://127.0.0.1:${port}`, clients: options.clients });
      currentPids = () => latest(clients.sessions).filter((s) => s.closedAt === undefined).map((s) => s.pid);
      finish = async () => {
        const result = await clients.stop();
        for (const [code, n] of Object.entries(result.closes)) add(code === '1000' || code === '1001' ? clean : abnormal, `close ${code}`, n);
        for (const [kind, n] of Object.entries(result.failedConnects)) add(abnormal, `connect ${kind}`, n);
      };
    } else if (protocol === 'sse') {
      const clients = runEventStreamClients({ port, clients: options.clients });
      currentPids = () => latest(clients.sessions).filter((s) => s.endedAt === undefined).map((s) => s.pid);
      finish = async () => {
        const result = await clients.stop();
        add(clean, 'ended cleanly', result.sessions.filter((s) => s.end === 'end').length);
        for (const [kind, n] of Object.entries(result.resets)) add(abnormal, `stream ${kind}`, n);
        for (const [kind, n] of Object.entries(result.failedConnects)) add(abnormal, `connect ${kind}`, n);
        add(abnormal, 'events missed', result.gaps);
      };
    } else {
      const load = runHttp2Load({ url: `http://127.0.0.1:${port}`, sessions: options.clients, streams: 4 });
      finish = async () => {
        const result = await load.stop();
        add(clean, 'streams ok', result.ok);
        add(clean, 'GOAWAY', result.goaways);
        add(clean, 'retried unprocessed', result.retried);
        for (const [kind, n] of Object.entries(result.failures)) add(abnormal, kind, n);
      };
    }

    if (protocol !== 'h2c') await waitUntil(() => currentPids().length === options.clients, 30_000, 'every client connected');
    await sleep(options.pauseMs);
    for (let i = 0; i < options.reloads; i++) {
      const old = manager.workerPids();
      const signalAt = Date.now();
      const exits = watchExits(old, { timeout: 120_000 });
      const moved = protocol === 'h2c'
        ? Promise.resolve(null)
        : waitUntil(() => {
          const pids = currentPids();
          return pids.length === options.clients && pids.every((p) => !old.includes(p)) && Date.now();
        }, 20_000, 'every client on a new worker').then((at) => (at as number) - signalAt, () => null);
      const outcome = await manager.reload();
      if (!outcome.ok) throw new Error(`reload ${i + 1} failed: ${outcome.error}`);
      const gone = await exits;
      reloads.push({ durationMs: gone.size === old.length ? Math.max(...gone.values()) - signalAt : null, movedMs: await moved });
      await sleep(options.pauseMs);
    }
    await finish();
    const killed = manager.killedWorkers?.();
    const { leftovers } = await manager.stop();
    manager = undefined;
    return {
      protocol, label: options.label, kind: options.manager.kind, clients: options.clients, abnormal,
      abnormalTotal: Object.values(abnormal).reduce((a, b) => a + b, 0), clean, reloads,
      ...(killed !== undefined ? { killed } : {}), leftovers,
    };
  } finally {
    if (manager) await manager.stop().catch(() => {});
    tmp.remove();
  }
}

function latest<T extends { client: number }>(sessions: T[]): T[] {
  const byClient = new Map<number, T>();
  for (const s of sessions) byClient.set(s.client, s);
  return [...byClient.values()];
}

const list = (counts: Record<string, number>) => Object.entries(counts).map(([k, n]) => `${k}: ${n}`).join(', ') || '–';
const avgMs = (xs: (number | null)[]) => {
  const known = xs.filter((x): x is number => x !== null);
  if (known.length === 0) return '–';
  const missing = xs.length - known.length;
  return `${(known.reduce((a, b) => a + b, 0) / known.length).toFixed(0)} / ${Math.max(...known).toFixed(0)}${missing ? ` (${missing} never)` : ''}`;
};

/** The report's section for these runs. */
export function protocolsMarkdown(results: ProtocolResult[], settings: string): string {
  const lines = [
    '## Long-lived connections across reloads', '',
    `${settings}. Abnormal: WebSocket closes other than 1000/1001 (1006 = the connection dropped without a close frame),`,
    'SSE streams cut (ECONNRESET, aborted) or events missed across a reconnect with Last-Event-ID, HTTP/2 streams failed.',
    'Moved: from the reload signal until every client was connected to a new worker.', '',
    '| protocol | manager | clients | abnormal (total) | abnormal per reload | abnormal by kind | clean | reload ms (avg / max) | moved ms (avg / max) | killed workers | leftover processes |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    lines.push(`| ${[
      r.protocol, r.label, String(r.clients), `**${r.abnormalTotal}**`, (r.abnormalTotal / Math.max(1, r.reloads.length)).toFixed(1), list(r.abnormal), list(r.clean),
      avgMs(r.reloads.map((x) => x.durationMs)), r.protocol === 'h2c' ? '–' : avgMs(r.reloads.map((x) => x.movedMs)),
      r.killed === undefined ? 'not reported' : String(r.killed), String(r.leftovers.length),
    ].join(' | ')} |`);
  }
  return lines.join('\n');
}
