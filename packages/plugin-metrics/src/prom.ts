import { createRequire } from 'node:module';
import { join } from 'node:path';
import { MasterProcessError } from '@master-process/core';
import type * as PromClient from 'prom-client';
import { PKG } from './options.js';

export type Prom = typeof PromClient;

export const MetricsErrorCode = {
  /** prom-client (a peer dependency) is not installed where this plugin can load it. */
  NO_PROM_CLIENT: 'MP_ERR_METRICS_NO_PROM_CLIENT',
  /** The endpoint could not listen (port in use, no permission, a socket path taken). */
  LISTEN: 'MP_ERR_METRICS_LISTEN',
  /** `api.scrape()` before `master.start()`. */
  NOT_STARTED: 'MP_ERR_METRICS_NOT_STARTED',
  /** `exposeRegistry()` got something that is not a prom-client Registry. */
  INVALID_REGISTRY: 'MP_ERR_METRICS_INVALID_REGISTRY',
} as const;

/**
 * prom-client, for the master's own metrics and the merge (workers' metrics cross as JSON, so the copy
 * need not be the app's). Looked up where this package is installed (a peer dependency resolves to the
 * app's copy), then from the app's script and the working directory: under pnpm a package that reaches
 * this plugin through `master-process` cannot see the app's own dependencies. Loaded when the plugin is
 * created, so a missing one fails `createMaster`, not a scrape.
 */
export function loadPromClient(from: readonly string[] = [import.meta.url, ...(process.argv[1] ? [process.argv[1]] : []), join(process.cwd(), 'noop.js')]): Prom {
  let first: unknown;
  for (const place of from) {
    try {
      return createRequire(place)('prom-client') as Prom;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
      first ??= error;
    }
  }
  throw new MasterProcessError(
    MetricsErrorCode.NO_PROM_CLIENT,
    `${PKG} needs prom-client (a peer dependency): install it next to your app with \`npm install prom-client\` (versions 14 and 15 work).`,
    { cause: first },
  );
}
