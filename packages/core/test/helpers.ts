import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { fixtures, freePort, startMaster, type MasterHandle, type MasterSpec } from '@master-process/testkit';

export const coreDir = fileURLToPath(new URL('..', import.meta.url));

/** A real master running the fixture app on a fresh port; the handle is registered for clean-up. */
export async function master(spec: MasterSpec, env: Record<string, string> = {}, cleanups?: (() => Promise<void>)[]): Promise<{ m: MasterHandle; port: number }> {
  const port = await freePort();
  const m = startMaster({ ...spec, options: { exec: fixtures.app, ...spec.options } }, { cwd: coreDir, env: { PORT: String(port), ...env } });
  cleanups?.push(() => m.cleanup());
  return { m, port };
}

/** GET a JSON route of the fixture app (a fresh connection each time). */
export function get(port: number, path = '/'): Promise<any> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body));
          } catch {
            resolve(body);
          }
        });
      })
      .on('error', reject);
  });
}

/** Ask until every slot in 0..workers-1 has answered; returns the answers by slot. */
export async function everySlot(port: number, workers: number, path = '/'): Promise<any[]> {
  const seen: any[] = [];
  for (let i = 0; i < 200 && seen.filter(Boolean).length < workers; i++) {
    const answer = await get(port, path);
    seen[answer.slot] ??= answer;
  }
  return seen;
}
