// The worker half: loaded by the master-process preload in every worker, before the app. It counts
// every HTTP response the worker finishes (Node's own `http.server.response.finish` diagnostics
// channel: no patching of the app's server) and answers the master's `counts` requests.
import { subscribe } from 'node:diagnostics_channel';
import type { ServerResponse } from 'node:http';
import type { WorkerPluginContext } from '@master-process/core/worker';
import type { WorkerCounts } from './types.js';

export default function requestLogWorker(context: WorkerPluginContext): void {
  const counts: WorkerCounts = { total: 0, byStatus: {}, since: Date.now() };
  subscribe('http.server.response.finish', (message) => {
    const status = String((message as { response: ServerResponse }).response.statusCode);
    counts.total++;
    counts.byStatus[status] = (counts.byStatus[status] ?? 0) + 1;
  });
  context.handle('counts', () => counts);
}
