// The worker half: loaded by the master-process preload in every worker, before the app. It loads
// nothing itself (an app that never uses prom-client pays nothing and creates no registry); at each
// scrape it reads the registries the app has: prom-client's default registry, of every copy of
// prom-client the app has loaded, and those passed to `exposeRegistry()`. Its last snapshot goes to the
// master right before the worker disconnects, once its requests have drained.
import { createRequire } from 'node:module';
import type { WorkerPluginContext } from '@master-process/core/worker';
import { exposedRegistries, type RegistryLike } from './registries.js';
import type { MetricJson } from './snapshot.js';
import { COLLECT, FINAL } from './wire.js';

const PROM_CLIENT_MAIN = /[\\/]node_modules[\\/]prom-client[\\/]index\.js$/;
const requireCache = createRequire(__filename).cache;

/** The default registries of the prom-client copies loaded so far (ESM imports of it land in the cache too). */
function defaultRegistries(): RegistryLike[] {
  const found: RegistryLike[] = [];
  for (const [path, mod] of Object.entries(requireCache)) {
    if (!PROM_CLIENT_MAIN.test(path)) continue;
    const register = (mod?.exports as { register?: RegistryLike } | undefined)?.register;
    if (register && typeof register.getMetricsAsJSON === 'function') found.push(register);
  }
  return found;
}

async function collect(): Promise<MetricJson[]> {
  const registries = new Set([...defaultRegistries(), ...exposedRegistries()]);
  const metrics: MetricJson[] = [];
  for (const registry of registries) metrics.push(...((await registry.getMetricsAsJSON()) as MetricJson[]));
  return metrics;
}

export default function metricsWorker(context: WorkerPluginContext): void {
  context.handle(COLLECT, collect);
  context.beforeDisconnect(async () => {
    await context.send(FINAL, await collect());
  });
}
