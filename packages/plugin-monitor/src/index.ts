import { definePlugin, packageCompatibility, type Plugin } from '@master-process/core';
import { Monitor, type MonitorEvents, type WorkerUsage } from './monitor.js';
import { resolveMonitorOptions, type MonitorOptions, type ResolvedMonitorOptions } from './options.js';

export type { MonitorEvents, MonitorOptions, ResolvedMonitorOptions, WorkerUsage };
export type { Resource } from './assess.js';

/** `version` and the `core` range, from this package's package.json. */
const compatibility = packageCompatibility(import.meta.url);

/** What `master.plugin('monitor')` returns. */
export interface MonitorApi {
  /** True while any source holds a pause. */
  readonly paused: boolean;
  /** Who holds a pause: `worker`, or the `source` of a `monitoring:pause` event. */
  readonly pausedBy: string[];
  readonly options: Readonly<ResolvedMonitorOptions>;
  /** The last figures of each watched worker. */
  usage(): WorkerUsage[];
  /** The same as emitting `monitoring:pause` / `monitoring:resume` with this source. */
  pause(source: string, reason?: string): void;
  resume(source: string, reason?: string): void;
}

/**
 * Replaces a worker that stays over its memory or CPU limit: a new worker is forked for the slot
 * and the faulty one retires once the new one is ready, so no request fails.
 */
export function monitor(options: MonitorOptions = {}): Plugin<MonitorApi> {
  const resolved = Object.freeze(resolveMonitorOptions(options));
  const impl = new Monitor(resolved);
  const api: MonitorApi = {
    get paused() {
      return impl.paused;
    },
    get pausedBy() {
      return impl.pausedBy;
    },
    options: resolved,
    usage: () => impl.usage(),
    pause: (source, reason) => impl.pause(source, reason),
    resume: (source, reason) => impl.resume(source, reason),
  };
  return definePlugin({
    name: 'monitor',
    ...compatibility,
    api,
    setup(master) {
      impl.setup(master);
    },
    onExit() {
      impl.stop();
    },
  });
}

declare module '@master-process/core' {
  interface PluginApis {
    monitor: MonitorApi;
  }
}

export default monitor;
