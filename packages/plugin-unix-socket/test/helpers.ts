import http from 'node:http';
import { fixtures, startMaster, type MasterHandle, type MasterSpec } from '@master-process/testkit';

export { staleSocket } from '@master-process/testkit';

export const PACKAGE_DIR = new URL('..', import.meta.url).pathname;

/** One GET over the socket; resolves with the fixture app's identity. */
export function get(socketPath: string, path = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.on('error', reject);
  });
}

export interface SocketMaster extends MasterHandle {
  /** Everything the master process wrote to stderr. */
  stderr(): string;
}

/** A real master with the plugin, the fixture app listening on `socket` (through PORT). */
export function startSocketMaster(
  socket: string,
  { options = {}, plugin = {}, env = {} }: { options?: Record<string, unknown>; plugin?: Record<string, unknown>; env?: Record<string, string> } = {},
): SocketMaster {
  const spec: MasterSpec = {
    options: { exec: fixtures.app, ...options },
    // The fixture imports the CommonJS build, whose namespace `default` is the whole exports object.
    plugins: [{ package: '@master-process/plugin-unix-socket', export: 'unixSocket', options: plugin }],
  };
  const handle = startMaster(spec, { cwd: PACKAGE_DIR, env: { PORT: socket, DEBUG: 'master-process:unix-socket', ...env } }) as SocketMaster;
  const chunks: string[] = [];
  handle.child.stderr!.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  handle.stderr = () => chunks.join('');
  return handle;
}
