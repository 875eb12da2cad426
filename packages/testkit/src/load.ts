import http, { type IncomingHttpHeaders } from 'node:http';

export interface LoadTarget {
  host?: string;
  port?: number;
  socketPath?: string;
  path?: string;
}

export interface LoadOptions {
  target: LoadTarget;
  /** Concurrent connections, each looping one request after another. */
  connections: number;
  keepAlive: boolean;
  /** Stop after this long, or when `stop()` is called; never later than 2 minutes (a load always ends by itself). */
  durationMs?: number;
  /** A request with no answer after this long counts as a `timeout` failure (default 10 s). */
  requestTimeout?: number;
  /** How many failures `firstFailures` keeps, with their time and kind (default 20). */
  keepFailures?: number;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

export interface LoadResult {
  total: number;
  ok: number;
  failed: number;
  /** Failures by kind: ECONNRESET, ECONNREFUSED, EPIPE, socket hang up, timeout, status 503, ... */
  failures: Record<string, number>;
  /** The first `keepFailures` failures (time in epoch ms), for a report. */
  firstFailures: { t: number; kind: string; message: string }[];
  latency: LatencySummary;
  startedAt: number;
  endedAt: number;
  /** Per request, in completion order: end time (epoch ms), latency (ms), pid that answered (0 on failure). */
  samples: { end: number[]; latency: number[]; pid: number[] };
}

export function summarize(latencies: number[]): LatencySummary {
  if (latencies.length === 0) return { count: 0, p50: 0, p99: 0, p999: 0, max: 0 };
  const sorted = Float64Array.from(latencies).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const round = (n: number) => Math.round(n * 100) / 100;
  return { count: sorted.length, p50: round(at(0.5)), p99: round(at(0.99)), p999: round(at(0.999)), max: round(sorted[sorted.length - 1]!) };
}

/** One GET on a fresh connection: status, headers, and the body (parsed when it is JSON). */
export function httpGet(target: LoadTarget, timeout = 10_000): Promise<{ status: number; headers: IncomingHttpHeaders; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: target.host ?? '127.0.0.1', port: target.port, socketPath: target.socketPath, path: target.path ?? '/', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('error', reject);
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON: the text */
        }
        resolve({ status: res.statusCode!, headers: res.headers, body });
      });
    });
    req.setTimeout(timeout, () => req.destroy(new Error(`no answer within ${timeout} ms`)));
    req.on('error', reject);
  });
}

const MAX_DURATION = 120_000;

function kindOf(error: NodeJS.ErrnoException): string {
  if (error.message === 'socket hang up') return 'socket hang up';
  return error.code ?? error.message;
}

/**
 * A load client that records every request: C connections, each looping one request after another,
 * until `durationMs` passes or `stop()` is called. It never retries: a failure is a failure.
 */
export function runLoad(options: LoadOptions): { done: Promise<LoadResult>; stop: () => void; samples: LoadResult['samples'] } {
  const { target, connections, keepAlive } = options;
  const requestTimeout = options.requestTimeout ?? 10_000;
  const keepFailures = options.keepFailures ?? 20;
  const agent = new http.Agent({ keepAlive, maxSockets: connections, maxFreeSockets: connections });
  const samples = { end: [] as number[], latency: [] as number[], pid: [] as number[] };
  const failures: Record<string, number> = {};
  const firstFailures: LoadResult['firstFailures'] = [];
  let ok = 0;
  let stopped = false;
  const startedAt = Date.now();
  const stop = () => {
    stopped = true;
  };
  const timer = setTimeout(stop, Math.min(options.durationMs ?? MAX_DURATION, MAX_DURATION));

  const fail = (kind: string, message: string) => {
    failures[kind] = (failures[kind] ?? 0) + 1;
    if (firstFailures.length < keepFailures) firstFailures.push({ t: Date.now(), kind, message });
  };

  const once = () =>
    new Promise<void>((resolve) => {
      const began = performance.now();
      let settled = false;
      const finish = (pid: number, failure?: [string, string]) => {
        if (settled) return;
        settled = true;
        samples.end.push(Date.now());
        samples.latency.push(performance.now() - began);
        samples.pid.push(pid);
        if (failure) fail(...failure);
        else ok++;
        resolve();
      };
      const req = http.request(
        { host: target.host ?? '127.0.0.1', port: target.port, socketPath: target.socketPath, path: target.path ?? '/', agent, headers: keepAlive ? {} : { connection: 'close' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (e: NodeJS.ErrnoException) => finish(0, [kindOf(e), e.message]));
          res.on('end', () => {
            if (res.statusCode !== 200) return finish(0, [`status ${res.statusCode}`, Buffer.concat(chunks).toString().slice(0, 200)]);
            let pid = 0;
            try {
              pid = Number(JSON.parse(Buffer.concat(chunks).toString()).pid) || 0;
            } catch {
              return finish(0, ['bad body', Buffer.concat(chunks).toString().slice(0, 200)]);
            }
            finish(pid || 1);
          });
        },
      );
      req.setTimeout(requestTimeout, () => req.destroy(Object.assign(new Error(`no answer within ${requestTimeout} ms`), { code: 'timeout' })));
      req.on('error', (e: NodeJS.ErrnoException) => finish(0, [kindOf(e), e.message]));
      req.end();
    });

  const loop = async () => {
    while (!stopped) await once();
  };

  const done = Promise.all(Array.from({ length: connections }, loop)).then((): LoadResult => {
    clearTimeout(timer);
    agent.destroy();
    const latencies = samples.latency.filter((_, i) => samples.pid[i]! > 0);
    const total = samples.end.length;
    return { total, ok, failed: total - ok, failures, firstFailures, latency: summarize(latencies), startedAt, endedAt: Date.now(), samples };
  });
  // `samples` grows while the load runs: a test can wait on what was served instead of on a fixed window.
  return { done, stop, samples };
}
