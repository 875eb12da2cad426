import { fileURLToPath } from 'node:url';
import { freePort, httpGet, startMaster, type MasterHandle } from '@master-process/testkit';

export const packageDir = fileURLToPath(new URL('..', import.meta.url));
export const metricsApp = fileURLToPath(new URL('./fixtures/metrics-app.mjs', import.meta.url));

export interface Started {
  handle: MasterHandle;
  /** The app's port. */
  port: number;
  /** The metrics endpoint's port. */
  metricsPort: number;
}

/** A real master running `exec` (default: the metrics app) with the metrics plugin on a free port. */
export async function startWithMetrics(spec: { workers?: number; metrics?: Record<string, unknown>; options?: Record<string, unknown>; env?: Record<string, string>; plugins?: { package: string; export?: string; options?: unknown }[] } = {}): Promise<Started> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const handle = startMaster(
    {
      options: { exec: metricsApp, workers: spec.workers ?? 2, ...spec.options },
      // The CommonJS build is what resolves from here; its named export is the factory.
      plugins: [...(spec.plugins ?? []), { package: '@master-process/plugin-metrics', export: 'metrics', options: { port: metricsPort, ...spec.metrics } }],
    },
    { cwd: packageDir, env: { PORT: String(port), ...spec.env } },
  );
  await handle.started();
  return { handle, port, metricsPort };
}

/** One scrape: status, content type and the page. */
export async function scrape(metricsPort: number, path = '/metrics'): Promise<{ status: number; type: string; text: string }> {
  const res = await httpGet({ port: metricsPort, path }, 30_000);
  return { status: res.status, type: String(res.headers['content-type']), text: typeof res.body === 'string' ? res.body : JSON.stringify(res.body) };
}

/** The value of one series in a Prometheus text page (`name{a="b"}`), or undefined when absent. */
export function value(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    if (at > 0 && line.slice(0, at) === series) return Number(line.slice(at + 1));
  }
  return undefined;
}
