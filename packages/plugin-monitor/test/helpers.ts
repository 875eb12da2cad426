import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { fixtures, freePort, startMaster, type MasterEvent, type MasterHandle } from '@master-process/testkit';

export const packageDir = fileURLToPath(new URL('..', import.meta.url));
export const workerFixture = fileURLToPath(new URL('./fixtures/worker.mjs', import.meta.url));
export const MONITOR_EVENTS = ['monitor:sample', 'monitor:replacing', 'monitor:replaced', 'monitor:paused', 'monitor:resumed', 'monitoring:pause', 'monitoring:resume'];

export interface Monitored {
  handle: MasterHandle;
  port: number;
}

/** A real master running the fixture app under the monitor (built package, resolved from this package). */
export async function startMonitored(spec: { workers: number; monitor: Record<string, unknown>; options?: Record<string, unknown>; env?: Record<string, string> }): Promise<Monitored> {
  const port = await freePort();
  const handle = startMaster(
    {
      options: { exec: workerFixture, workers: spec.workers, ...spec.options },
      // The CommonJS build is what resolves from here; its named export is the factory.
      plugins: [{ package: '@master-process/plugin-monitor', export: 'monitor', options: spec.monitor }],
      listen: MONITOR_EVENTS,
    },
    { cwd: packageDir, env: { PORT: String(port), MON_APP: fixtures.app, ...spec.env } },
  );
  await handle.started();
  return { handle, port };
}

export function get(port: number, path: string): Promise<any> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body));
        } catch (error) {
          reject(error);
        }
      });
    }).on('error', reject);
  });
}

/** Messages a worker printed as received from the master, parsed (4.x sends JSON strings). */
export function messagesTo(handle: MasterHandle, pid: number): { raw: unknown; msg: any }[] {
  return handle.appLines
    .filter((l) => l.app === 'message' && l.pid === pid)
    .map((l) => ({ raw: l.message, msg: typeof l.message === 'string' ? JSON.parse(l.message) : l.message }));
}

export const samplesSince = (handle: MasterHandle, since: number): MasterEvent[] => handle.events.slice(since).filter((e) => e.ev === 'monitor:sample');
