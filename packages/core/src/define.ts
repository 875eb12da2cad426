import type { Plugin } from './types.js';

/**
 * Define a plugin, or a factory of plugins. It returns its argument unchanged: its value is the types.
 * Hooks get typed parameters (also in JavaScript with `// @ts-check`), the factory's options are typed by
 * its parameters, and the plugin's `api` type is kept (`Plugin<Api>`). Make `master.plugin(name)` typed by
 * adding the api to `PluginApis`:
 *
 * ```ts
 * export const requestLog = definePlugin((options: RequestLogOptions = {}) => ({
 *   name: 'request-log',
 *   ...packageCompatibility(import.meta.url), // version, core: from package.json
 *   api: { ... },
 *   setup(master) { ... },
 * }));
 * declare module '@master-process/core' {
 *   interface PluginApis { 'request-log': RequestLogApi }
 * }
 * ```
 */
export function definePlugin<Args extends unknown[], Api = unknown>(factory: (...args: Args) => Plugin<Api>): (...args: Args) => Plugin<Api>;
export function definePlugin<Api = unknown>(plugin: Plugin<Api>): Plugin<Api>;
export function definePlugin(value: unknown): unknown {
  return value;
}
