// The metrics scenario: what `@master-process/plugin-metrics` costs a service under load. One master-process
// cluster, one app instrumented with prom-client as services usually are (src/metrics-app.mjs), the plugin
// loaded in every variant; the variants differ only in how often the bench process GETs /metrics while the
// load runs: never, every second, every 100 ms. Rounds are interleaved (A B C A B C ...) so that drift on a
// shared machine hits every variant alike; the medians and the per-round ratios to "never" are reported,
// with the scrapes' own latency, the page's size and the CPU of the master, the workers and the client.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { freePort, sleep, summarize, tempDir, type LatencySummary } from '@master-process/testkit';
import { startManager, type Manager, type ManagerOptions } from './managers.js';
import { cpuTimeMs } from './proc.js';
import { median, table } from './report.js';
import { run, type RunResult } from './run.js';

const require = createRequire(import.meta.url);
export const METRICS_APP = fileURLToPath(new URL('./metrics-app.mjs', import.meta.url));
const SCRAPER = new URL('./scraper-thread.mjs', import.meta.url);
/** A scrape answered within this, or it counts as a failed one (Prometheus' own default scrape_timeout is 10 s). */
const SCRAPE_TIMEOUT_MS = 10_000;
/** A series of the app's, summed over the workers: its absence means the scrape did not gather the workers. */
const APP_SERIES = '\nhttp_requests_total{';

export interface MetricsOptions {
  workers: number;
  connections: number;
  durationMs: number;
  rounds: number;
  /** Scrape intervals (ms) of the scraped variants; the first variant is never scraped. */
  intervalsMs: number[];
  verbose?: boolean;
}

/** One variant over every round. CPU figures are shares of one core over the load (0.5 = half a core). */
export interface MetricsResult {
  scenario: 'metrics';
  label: string;
  /** null: never scraped. */
  intervalMs: number | null;
  /** ok responses per second after the first second, per round. */
  rounds: number[];
  /** p99 latency of the load's requests (ms), per round. */
  p99: number[];
  /** Failed requests of the load, every round. */
  failed: number;
  master: number[];
  /** The workers together. */
  workers: number[];
  /** The bench process: the load client and the scraper. */
  client: number[];
  scrapes: number;
  /** Scrapes that failed, by kind (`status N`, `timeout`, `no app metrics`, error codes). */
  scrapeFailures: Record<string, number>;
  /** Pages that said a worker did not answer in time or answered something invalid (answered < asked). */
  incompleteScrapes: number;
  /** Time of a scrape (GET sent → the last byte of the page), ms, over every round. */
  scrapeLatency: LatencySummary;
  /** Size of the page in bytes (median of the scrapes). */
  pageBytes: number;
  leftovers: number[];
}

/** What one scrape costs, measured on an idle cluster (no load). */
export interface ScrapeCost {
  scenario: 'metrics-scrape-cost';
  workers: number;
  intervalMs: number;
  scrapes: number;
  scrapeFailures: Record<string, number>;
  incomplete: number;
  /** Time of a scrape with no load (ms). */
  latency: LatencySummary;
  pageBytes: number;
  /** CPU time per scrape above the idle baseline (ms): the master's, and each worker's (their mean). */
  masterMs: number;
  workerMs: number;
  leftovers: number[];
}

/** `@master-process/plugin-metrics`'s CommonJS entry (what testkit's fixture master loads); undefined until it is built. */
export function metricsEntry(): string | undefined {
  try {
    return require.resolve('@master-process/plugin-metrics');
  } catch {
    return undefined;
  }
}

const every = (ms: number) => (ms >= 1000 && ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`);
const labelOf = (intervalMs: number | null) => (intervalMs === null ? 'plugin loaded, never scraped' : `scraped every ${every(intervalMs)}`);

interface Scrapes {
  latencies: number[];
  bytes: number[];
  failures: Record<string, number>;
  /** Pages that said a worker did not answer (the plugin's `scrape_workers` gauge: answered < asked). */
  incomplete: number;
}
const noScrapes = (): Scrapes => ({ latencies: [], bytes: [], failures: {}, incomplete: 0 });

/** Scrapes `port` every `intervalMs` from a thread of its own (src/scraper-thread.mjs) until `stop()`, which adds what it saw to `into`. */
function startScraper(port: number, intervalMs: number, into: Scrapes): { stop(): Promise<void> } {
  // Plain JS: without the bench's `--import tsx`, the thread starts in milliseconds, with the load.
  const thread = new Worker(SCRAPER, { execArgv: [], workerData: { port, path: '/metrics', intervalMs, timeoutMs: SCRAPE_TIMEOUT_MS, series: APP_SERIES } });
  const seen = new Promise<Scrapes>((resolve, reject) => {
    thread.once('message', resolve);
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`the scraper thread exited (${code}) before it reported`)));
  });
  // Awaited in stop(); until then a failed thread must not be an unhandled rejection.
  seen.catch(() => {});
  const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()));
  return {
    async stop() {
      thread.postMessage('stop');
      const { latencies, bytes, failures, incomplete } = await seen;
      into.latencies.push(...latencies);
      into.bytes.push(...bytes);
      into.incomplete += incomplete;
      for (const [kind, n] of Object.entries(failures)) into.failures[kind] = (into.failures[kind] ?? 0) + n;
      await exited;
    },
  };
}

/** CPU time (ms) of the master, of the workers together and of this process, now. */
function cpuNow(manager: Manager, workers: number[]) {
  const usage = process.cpuUsage();
  return {
    at: performance.now(),
    master: cpuTimeMs(manager.rootPid) ?? NaN,
    workers: workers.reduce((sum, pid) => sum + (cpuTimeMs(pid) ?? NaN), 0),
    client: (usage.user + usage.system) / 1000,
  };
}

/** The cluster of every variant: the instrumented app, the plugin on `metricsPort`. */
function cluster(options: MetricsOptions, entry: string, metricsPort: number): Omit<ManagerOptions, 'port' | 'tmp'> {
  return {
    kind: 'master-process',
    workers: options.workers,
    app: {},
    exec: METRICS_APP,
    plugins: [{ package: entry, export: 'metrics', options: { port: metricsPort } }],
    verbose: options.verbose,
  };
}

/**
 * What one scrape costs in CPU, with no load (so that it barely depends on what else the machine runs): the
 * cluster idle for `idleMs` (the baseline), then scraped every `intervalMs` for `scrapeMs`; the CPU used above
 * the baseline's rate, per scrape. Not back to back: scrapes less than ~10 ms apart get pages without the
 * workers' metrics (see bench/README.md#metrics-scrape-overhead), which cost less and are not the point.
 */
async function scrapeCost(options: MetricsOptions, entry: string, idleMs = 2000, scrapeMs = 4000, intervalMs = 50): Promise<ScrapeCost> {
  const tmp = tempDir('mp-bench-metrics-');
  const metricsPort = await freePort();
  const manager = await startManager({ ...cluster(options, entry, metricsPort), port: await freePort(), tmp: tmp.path });
  let stopped = false;
  try {
    const workers = manager.workerPids();
    // One scrape first: the first gathers load the worker halves' code paths; it is not what a scrape costs.
    await startScraper(metricsPort, 1000, noScrapes()).stop();
    const idleFrom = cpuNow(manager, workers);
    await sleep(idleMs);
    const idleTo = cpuNow(manager, workers);
    const seen = noScrapes();
    const scraper = startScraper(metricsPort, intervalMs, seen);
    await sleep(scrapeMs);
    await scraper.stop();
    const after = cpuNow(manager, workers);
    const perScrape = (key: 'master' | 'workers') => {
      const idleRate = (idleTo[key] - idleFrom[key]) / (idleTo.at - idleFrom.at);
      return (after[key] - idleTo[key] - idleRate * (after.at - idleTo.at)) / Math.max(1, seen.latencies.length);
    };
    stopped = true;
    const { leftovers } = await manager.stop();
    return {
      scenario: 'metrics-scrape-cost', workers: workers.length, intervalMs, scrapes: seen.latencies.length, scrapeFailures: seen.failures, incomplete: seen.incomplete, latency: summarize(seen.latencies),
      pageBytes: seen.bytes.length ? median(seen.bytes) : 0, masterMs: perScrape('master'), workerMs: perScrape('workers') / workers.length, leftovers,
    };
  } finally {
    if (!stopped) await manager.stop().catch(() => {});
    tmp.remove();
  }
}

/**
 * Every variant, `rounds` times, interleaved, then the CPU one scrape costs (idle); `emit` gets each run's
 * own result (a JSON line of the report).
 */
export async function runMetrics(options: MetricsOptions, emit: (r: RunResult) => void = () => {}): Promise<{ variants: MetricsResult[]; cost: ScrapeCost }> {
  const entry = metricsEntry();
  if (!entry) throw new Error('@master-process/plugin-metrics is not built (no dist): run `pnpm build` first');
  const variants = [null, ...options.intervalsMs];
  const results: MetricsResult[] = variants.map((intervalMs) => ({
    scenario: 'metrics', label: labelOf(intervalMs), intervalMs, rounds: [], p99: [], failed: 0, master: [], workers: [], client: [],
    scrapes: 0, scrapeFailures: {}, incompleteScrapes: 0, scrapeLatency: summarize([]), pageBytes: 0, leftovers: [],
  }));
  const scrapes: Scrapes[] = variants.map(noScrapes);
  for (let round = 0; round < options.rounds; round++) {
    for (const [k, intervalMs] of variants.entries()) {
      const metricsPort = await freePort();
      let cpu: { master: number; workers: number; client: number } | undefined;
      const r = await run({
        scenario: 'metrics',
        label: results[k]!.label,
        manager: cluster(options, entry, metricsPort),
        connections: options.connections,
        keepAlive: true,
        durationMs: options.durationMs,
        reloads: 0,
        beside(manager) {
          // No reload in this scenario: the workers at the start are the workers throughout.
          const before = cpuNow(manager, manager.workerPids());
          const scraper = intervalMs === null ? undefined : startScraper(metricsPort, intervalMs, scrapes[k]!);
          return {
            async stop() {
              await scraper?.stop();
              const after = cpuNow(manager, manager.workerPids());
              const share = (key: 'master' | 'workers' | 'client') => (after[key] - before[key]) / (after.at - before.at);
              cpu = { master: share('master'), workers: share('workers'), client: share('client') };
            },
          };
        },
      });
      emit(r);
      const result = results[k]!;
      result.rounds.push(r.throughput);
      result.p99.push(r.latency.steady.p99);
      result.failed += r.failed;
      result.leftovers.push(...r.leftovers);
      if (cpu) {
        result.master.push(cpu.master);
        result.workers.push(cpu.workers);
        result.client.push(cpu.client);
      }
    }
  }
  for (const [k, result] of results.entries()) {
    const { latencies, bytes, failures, incomplete } = scrapes[k]!;
    result.scrapes = latencies.length + Object.values(failures).reduce((a, b) => a + b, 0);
    result.scrapeFailures = failures;
    result.incompleteScrapes = incomplete;
    result.scrapeLatency = summarize(latencies);
    result.pageBytes = bytes.length ? median(bytes) : 0;
  }
  return { variants: results, cost: await scrapeCost(options, entry) };
}

const pct = (xs: number[]) => (xs.length ? `${(median(xs) * 100).toFixed(1)} %` : '–');

export const METRICS_HEADER = [
  'variant', 'req/s (median of rounds)', 'rounds', '× never scraped (medians)', '× never scraped (median of per-round ratios)', 'p99 ms (load)', 'failed requests',
  'scrapes (failed, incomplete)', 'scrape p50 / p99 / max ms', 'page bytes', 'master CPU', 'workers CPU', 'client CPU', 'server CPU µs per request',
];

/** One markdown row per variant; ratios to the first (never scraped) variant, the paired one round by round. */
export function metricsRows(results: MetricsResult[]): string[] {
  const base = results.find((r) => r.intervalMs === null);
  return results.map((r) => {
    const ratio = base && r !== base ? (median(r.rounds) / median(base.rounds)).toFixed(3) : '–';
    const paired = base && r !== base ? median(r.rounds.map((x, i) => x / base.rounds[i]!)).toFixed(3) : '–';
    const failedScrapes = Object.values(r.scrapeFailures).reduce((a, b) => a + b, 0);
    const l = r.scrapeLatency;
    // What the cluster spends per response, round by round: less sensitive than req/s to how much CPU the machine had left.
    const serverCpu = r.master.map((m, i) => ((m + r.workers[i]!) * 1e6) / r.rounds[i]!).filter(Number.isFinite);
    const cells = [
      r.label, median(r.rounds).toFixed(0), r.rounds.map((x) => x.toFixed(0)).join(', '), ratio, paired, median(r.p99).toFixed(1), String(r.failed),
      r.intervalMs === null ? '–' : `${r.scrapes} (${failedScrapes ? Object.entries(r.scrapeFailures).map(([kind, n]) => `${kind}: ${n}`).join(', ') : 0}, ${r.incompleteScrapes})`,
      l.count ? `${l.p50.toFixed(1)} / ${l.p99.toFixed(1)} / ${l.max.toFixed(1)}` : '–', r.pageBytes ? String(r.pageBytes) : '–',
      pct(r.master), pct(r.workers), pct(r.client), serverCpu.length ? median(serverCpu).toFixed(0) : '–',
    ];
    return `| ${cells.join(' | ')} |`;
  });
}

/** The idle measurement, one sentence. */
export function scrapeCostLine(c: ScrapeCost): string {
  const failed = Object.values(c.scrapeFailures).reduce((a, b) => a + b, 0);
  return `One scrape, measured on the idle cluster (${c.scrapes} scrapes, one every ${c.intervalMs} ms${failed ? `, ${failed} failed` : ''}${c.incomplete ? `, ${c.incomplete} incomplete` : ''}; CPU above the idle baseline, 10 ms ticks): ` +
    `**${c.masterMs.toFixed(2)} ms of the master's CPU and ${c.workerMs.toFixed(2)} ms of each worker's**; ${c.latency.p50.toFixed(1)} ms p50, ${c.latency.p99.toFixed(1)} ms p99; a page of ${c.pageBytes} bytes.`;
}

export function metricsSection(results: MetricsResult[], cost: ScrapeCost | undefined, settings: string): string {
  const leftovers = [...results.flatMap((r) => r.leftovers), ...(cost?.leftovers ?? [])];
  return [
    '## Metrics scrape overhead', '',
    `${settings}. The app (\`src/metrics-app.mjs\`) answers \`GET /\` at once and counts every response in prom-client (default metrics, a counter and a histogram by method, route and status); \`@master-process/plugin-metrics\` is loaded in every variant, which differ only in how often the bench process GETs \`/metrics\` during the load (as Prometheus does: one scrape at a time, on a kept-alive connection). Rounds interleaved; req/s after the first second; CPU in % of one core over the load (workers: both together; client: the bench process, load and scraper), medians of the rounds; server CPU per request: (master + workers CPU) ÷ req/s, median of the rounds.`, '',
    table(METRICS_HEADER, metricsRows(results)), '',
    ...(cost ? [scrapeCostLine(cost), ''] : []),
    ...(leftovers.length ? [`Processes left after stop: ${leftovers.join(' ')}`, ''] : []),
  ].join('\n');
}
