import { assertKnownKeys, invalidValue, parseBoolean, parseDuration, parseNumber, parseSocketPath, resolveSetting, type ValueSource } from '@master-process/core';

export const PKG = '@master-process/plugin-metrics';

export const ENV = {
  PORT: 'METRICS_PORT',
  HOST: 'METRICS_HOST',
  SOCKET: 'METRICS_SOCKET',
} as const;

export interface MetricsOptions {
  /** TCP port of the endpoint (env `METRICS_PORT`, default 9464; 0: any free port, see `api.address()`). */
  port?: number | string;
  /**
   * Address to listen on (env `METRICS_HOST`, default `127.0.0.1`: only this machine). A Prometheus on
   * another machine needs `0.0.0.0` or the address of a private interface: then anyone who can reach
   * that address reads the metrics; keep the port firewalled.
   */
  host?: string;
  /** Listen on this unix socket instead (absolute path, env `METRICS_SOCKET`): mode 0600, only this user may connect. */
  socket?: string;
  /** URL path of the metrics (default `/metrics`). */
  path?: string;
  /** How long a scrape waits for each worker; one that has not answered is left out and counted in `…_metrics_scrape_errors_total` (default 2s). */
  timeout?: number | string;
  /** Gather the app's prom-client metrics from every worker (default true); false: the master's own metrics only. */
  workers?: boolean;
  /** Prefix of the master's metric names (default `master_process_`). */
  prefix?: string;
  /** Buckets of the reload duration histogram, in seconds (default 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300). */
  reloadBuckets?: number[];
}

export type Endpoint = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

export interface ResolvedMetricsOptions {
  endpoint: Endpoint;
  path: string;
  timeout: number;
  workers: boolean;
  prefix: string;
  reloadBuckets: number[];
}

const KNOWN = new Set(['port', 'host', 'socket', 'path', 'timeout', 'workers', 'prefix', 'reloadBuckets']);

function parseHost(value: unknown, source: ValueSource): string {
  if (typeof value === 'string' && value.trim() !== '' && !/\s/.test(value.trim())) return value.trim();
  throw invalidValue(source, value, 'an IP address or host name to listen on, such as "127.0.0.1" (the default), "::1" or "0.0.0.0"', PKG);
}

function parseUrlPath(value: unknown, source: ValueSource): string {
  if (typeof value === 'string' && /^\/[\x21-\x7e]*$/.test(value) && !value.includes('?') && !value.includes('#')) return value;
  throw invalidValue(source, value, 'a URL path starting with "/", without spaces, query or fragment, such as "/metrics"', PKG);
}

function parsePrefix(value: unknown, source: ValueSource): string {
  if (typeof value === 'string' && /^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(value)) return value;
  throw invalidValue(source, value, 'a Prometheus metric name prefix: letters, digits, "_" and ":", not starting with a digit (such as "master_process_")', PKG);
}

function parseBuckets(value: unknown, source: ValueSource): number[] {
  if (Array.isArray(value) && value.length > 0 && value.every((b, i) => typeof b === 'number' && Number.isFinite(b) && b > 0 && (i === 0 || b > value[i - 1]))) return [...value];
  throw invalidValue(source, value, 'a non-empty array of increasing positive numbers of seconds, such as [1, 5, 30]', PKG);
}

export function resolveMetricsOptions(options: MetricsOptions = {}, environment: NodeJS.ProcessEnv = process.env): ResolvedMetricsOptions {
  assertKnownKeys(options, KNOWN, { pkg: PKG });
  if (options.socket !== undefined && (options.port !== undefined || options.host !== undefined)) {
    throw invalidValue({ option: 'socket' }, options.socket, 'either `socket` or `port`/`host`, not both: the endpoint listens on one of them', PKG);
  }
  // An explicit port or host is a TCP endpoint, whatever METRICS_SOCKET says (options win over the environment).
  const tcpGiven = options.port !== undefined || options.host !== undefined;
  const socket = tcpGiven ? undefined : resolveSetting<string | undefined>({ option: 'socket', value: options.socket, env: ENV.SOCKET, default: undefined, parse: (v, s) => parseSocketPath(v, s, PKG), environment });
  const port = resolveSetting({ option: 'port', value: options.port, env: ENV.PORT, default: 9464, environment, parse: (v, s) => parseNumber(v, s, { integer: true, min: 0, max: 65535 }, PKG) });
  const host = resolveSetting({ option: 'host', value: options.host, env: ENV.HOST, default: '127.0.0.1', environment, parse: parseHost });
  return {
    endpoint: socket !== undefined ? { kind: 'unix', path: socket } : { kind: 'tcp', host, port },
    path: resolveSetting({ option: 'path', value: options.path, default: '/metrics', parse: parseUrlPath }),
    timeout: resolveSetting({ option: 'timeout', value: options.timeout, default: 2000, parse: (v, s) => parseDuration(v, s, PKG, 1) }),
    workers: resolveSetting({ option: 'workers', value: options.workers, default: true, parse: (v, s) => parseBoolean(v, s, PKG) }),
    prefix: resolveSetting({ option: 'prefix', value: options.prefix, default: 'master_process_', parse: parsePrefix }),
    reloadBuckets: resolveSetting({ option: 'reloadBuckets', value: options.reloadBuckets, default: [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300], parse: parseBuckets }),
  };
}
