// Plugins' worker halves, checked in the master before anything forks: a missing module, one that
// throws when loaded or one that exports no function fails `createMaster` naming the plugin, instead
// of failing every fork later.
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ErrorCode, MasterProcessError } from './errors.js';
import type { Plugin } from './types.js';
import { setupOf, type WorkerHalfSpec } from './worker/plugin-channel.js';

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function failed(plugin: string, module: string, what: string, cause?: unknown): MasterProcessError {
  const error = new MasterProcessError(ErrorCode.PLUGIN_WORKER, `Plugin "${plugin}": its worker half ${module} ${what}`, cause === undefined ? undefined : { cause });
  return Object.assign(error, { plugin, hook: 'worker' });
}

/** The worker halves of `plugins` (shapes already validated), each loaded once here to check it. */
export function resolveWorkerHalves(plugins: readonly Plugin[]): WorkerHalfSpec[] {
  const load = createRequire(import.meta.url);
  const specs: WorkerHalfSpec[] = [];
  for (const plugin of plugins) {
    if (plugin.worker === undefined) continue;
    const { module, options } = typeof plugin.worker === 'string' ? { module: plugin.worker, options: undefined } : plugin.worker;
    if (!isFile(module)) throw failed(plugin.name, module, 'is not a file. Reinstall the plugin package (is it built?), or fix the path it gives.');
    let mod: unknown;
    try {
      mod = load(module);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      const hint = (error as { code?: string })?.code === 'ERR_REQUIRE_ASYNC_MODULE' ? ' (workers load it with require(): no top-level await)' : '';
      throw failed(plugin.name, module, `threw when loaded${hint}: ${message}`, error);
    }
    try {
      setupOf(mod);
    } catch (error) {
      throw failed(plugin.name, module, (error as Error).message);
    }
    specs.push({ name: plugin.name, module, ...(options === undefined ? {} : { options: JSON.parse(JSON.stringify(options)) as unknown }) });
  }
  return specs;
}
