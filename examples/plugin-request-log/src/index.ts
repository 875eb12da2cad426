import { fileURLToPath } from 'node:url';
import {
  assertKnownKeys, createLogger, definePlugin, MasterProcessError, packageCompatibility, parseDuration, resolveSetting, type Master,
} from '@master-process/core';
import type { RequestLogApi, RequestLogOptions, RequestLogReport, WorkerCounts } from './types.js';

export type { RequestLogApi, RequestLogOptions, RequestLogReport, WorkerCounts } from './types.js';

export const NAME = 'request-log';
/** The custom event a periodic report is emitted as. */
export const REPORT_EVENT = 'request-log:report';

declare module '@master-process/core' {
  interface PluginApis {
    'request-log': RequestLogApi;
  }
}

const PKG = 'master-process-plugin-request-log';
const log = createLogger(NAME);
// Built next to this file by tsup; the CJS build, so workers load it with a plain require().
const WORKER = fileURLToPath(new URL('./worker.cjs', import.meta.url));

export const requestLog = definePlugin((options: RequestLogOptions = {}) => {
  assertKnownKeys(options, new Set(['interval', 'timeout']), { pkg: PKG });
  const interval = resolveSetting({ option: 'interval', value: options.interval, env: 'REQUEST_LOG_INTERVAL', default: 0, parse: (v, s) => parseDuration(v, s, PKG) });
  const timeout = resolveSetting({ option: 'timeout', value: options.timeout, default: 2000, parse: (v, s) => parseDuration(v, s, PKG, 1) });
  let master: Master | undefined;
  let timer: NodeJS.Timeout | undefined;

  async function report(): Promise<RequestLogReport> {
    if (!master) throw new MasterProcessError('MP_ERR_REQUEST_LOG_NOT_STARTED', `${PKG}: report() needs a started master: call it after master.start().`);
    const replies = await master.gather<WorkerCounts>(NAME, 'counts', undefined, { timeout });
    const result: RequestLogReport = { at: Date.now(), total: 0, byStatus: {}, workers: [], missing: [] };
    for (const reply of replies) {
      const { pid, slot, generation } = reply.worker;
      if (!reply.ok) {
        result.missing.push({ pid, slot, code: reply.error.code, message: reply.error.message });
        continue;
      }
      result.workers.push({ pid, slot, generation, ...reply.value });
      result.total += reply.value.total;
      for (const [status, n] of Object.entries(reply.value.byStatus)) result.byStatus[status] = (result.byStatus[status] ?? 0) + n;
    }
    return result;
  }

  return {
    name: NAME,
    ...packageCompatibility(import.meta.url),
    worker: WORKER,
    api: { report } satisfies RequestLogApi,
    setup(m) {
      master = m;
      if (interval === 0) return;
      // From the moment every slot serves: a report during start-up would count no worker.
      m.once('master:ready', () => {
        timer = setInterval(() => {
          report().then(
            (r) => {
              log('%d responses from %d worker(s): %o', r.total, r.workers.length, r.byStatus);
              m.emit(REPORT_EVENT, r);
            },
            (error: Error) => log('report failed: %s', error.message),
          );
        }, interval);
        // The master's workers keep it alive; this timer must never be what does.
        timer.unref();
      });
    },
    onExit() {
      clearInterval(timer);
    },
  };
});

export default requestLog;
