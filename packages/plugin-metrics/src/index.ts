import { fileURLToPath } from 'node:url';
import { createLogger, definePlugin, MasterProcessError, packageCompatibility, version as coreVersion, type Master } from '@master-process/core';
import { AppMetrics } from './app-metrics.js';
import { masterMetrics } from './master-metrics.js';
import { resolveMetricsOptions, type MetricsOptions, type ResolvedMetricsOptions } from './options.js';
import { loadPromClient, MetricsErrorCode } from './prom.js';
import { exposedRegistries, type RegistryLike } from './registries.js';
import { MetricsServer } from './server.js';
import { NAME } from './wire.js';

export type { Endpoint, MetricsOptions, ResolvedMetricsOptions } from './options.js';
export type { RegistryLike } from './registries.js';

/** The part of prom-client's `Registry` the master's registry is used through (prom-client 14 and 15 both have it). */
export interface MasterRegistry {
  readonly contentType: string;
  metrics(): Promise<string>;
  registerMetric(metric: unknown): void;
  getSingleMetric(name: string): unknown;
}
export { MetricsErrorCode } from './prom.js';

/** What `master.plugin('metrics')` returns. */
export interface MetricsApi {
  readonly options: Readonly<ResolvedMetricsOptions>;
  /** Where scrapers reach the endpoint: `127.0.0.1:9464` (the port actually bound, for port 0), or the socket path. */
  address(): string;
  /** The page a scrape gets now (Prometheus text format): the master's metrics, then the app's summed over the workers. */
  scrape(): Promise<string>;
  /**
   * The master's registry (a prom-client `Registry`): other plugins add their own master-side metrics to it
   * (`new client.Counter({ ..., registers: [api.registry] })`). Typed by its shape, so the types need no prom-client.
   */
  readonly registry: MasterRegistry;
}

declare module '@master-process/core' {
  interface PluginApis {
    metrics: MetricsApi;
  }
}

const compatibility = packageCompatibility(import.meta.url);
const log = createLogger(NAME);
// Built next to this file by tsup; the CJS build, so workers load it with a plain require().
const WORKER = fileURLToPath(new URL('./worker.cjs', import.meta.url));

/**
 * A Prometheus endpoint on the master (`http://127.0.0.1:9464/metrics` by default): the master's own
 * metrics (reloads, their duration, crashes, workers by state...) and the app's prom-client metrics,
 * summed over every worker and cumulative across reloads. Needs `prom-client` next to the app.
 */
export const metrics = definePlugin((options: MetricsOptions = {}) => {
  const resolved = Object.freeze(resolveMetricsOptions(options));
  const prom = loadPromClient();
  const registry = new prom.Registry();
  let master: Master | undefined;
  let server: MetricsServer | undefined;
  let app: AppMetrics | undefined;
  let events: { detach(): void } | undefined;

  const scrapeErrors = new prom.Counter({
    name: `${resolved.prefix}metrics_scrape_errors_total`,
    help: 'Workers left out of a scrape of the app metrics: timeout (no answer within the timeout: a blocked event loop), failed (prom-client threw), invalid (not metrics).',
    labelNames: ['reason'],
    registers: [registry],
  });
  for (const reason of ['timeout', 'failed', 'invalid']) scrapeErrors.inc({ reason }, 0);
  const scrapeWorkers = new prom.Gauge({
    name: `${resolved.prefix}metrics_scrape_workers`, help: 'Serving workers asked for their metrics at this scrape, and how many answered in time.', labelNames: ['result'], registers: [registry],
  });

  async function scrape(): Promise<string> {
    if (!master) throw new MasterProcessError(MetricsErrorCode.NOT_STARTED, `${NAME}: scrape() needs a started master: call it after master.start().`);
    let appText = '';
    if (app) {
      const result = await app.scrape();
      scrapeWorkers.set({ result: 'asked' }, result.asked);
      scrapeWorkers.set({ result: 'answered' }, result.answered);
      appText = await result.registry.metrics();
    }
    const own = await registry.metrics();
    return appText ? `${own}\n${appText}` : own;
  }

  const api: MetricsApi = {
    options: resolved,
    address: () => server?.address() ?? '',
    scrape,
    registry,
  };

  return {
    name: NAME,
    ...compatibility,
    // Without app metrics, the workers need not load anything.
    ...(resolved.workers ? { worker: WORKER } : {}),
    requires: [{ name: 'monitor', optional: true, package: '@master-process/plugin-monitor' }],
    api,
    async setup(m) {
      master = m;
      events = masterMetrics(prom, registry, m, resolved, { core_version: coreVersion, plugin_version: compatibility.version ?? 'unknown', node_version: process.version });
      if (resolved.workers) {
        app = new AppMetrics(prom, m, resolved.timeout, (reason, worker, message) => {
          scrapeErrors.inc({ reason });
          log('worker %d (slot %d) left out of this scrape (%s): %s', worker.pid, worker.slot, reason, message);
        });
      }
      server = new MetricsServer(resolved.endpoint, resolved.path, async () => ({ contentType: registry.contentType, body: await scrape() }), log);
      await server.listen();
      log('serving metrics on %s%s', server.address(), resolved.endpoint.kind === 'tcp' ? resolved.path : ` (path ${resolved.path})`);
    },
    async onExit() {
      events?.detach();
      app?.detach();
      await server?.close();
    },
  };
});

/**
 * Have the worker half read `registry` too, beside prom-client's default registry (which it always reads):
 * call it in the worker, where the app creates the registry. Returns a function that takes it back.
 */
export function exposeRegistry(registry: RegistryLike): () => void {
  if (registry === null || typeof registry !== 'object' || typeof registry.getMetricsAsJSON !== 'function') {
    throw new MasterProcessError(MetricsErrorCode.INVALID_REGISTRY, `${NAME}: exposeRegistry(registry): registry must be a prom-client Registry (an object with getMetricsAsJSON()); got ${registry === null ? 'null' : typeof registry}`);
  }
  exposedRegistries().add(registry);
  return () => void exposedRegistries().delete(registry);
}

export default metrics;
