import assert from 'node:assert/strict';
import { statSync, writeFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { freePort, httpGet, startMaster, staleSocket, tempDir, type MasterHandle } from '@master-process/testkit';
import { metricsApp, packageDir, startWithMetrics, value } from './helpers.js';

const handles: MasterHandle[] = [];
const dirs: { remove(): void }[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.cleanup()));
  for (const dir of dirs.splice(0)) dir.remove();
});
const track = <T extends { handle: MasterHandle }>(started: T): T => (handles.push(started.handle), started);

/** What a TCP connect to host:port gets: 'connected', or the error code. */
const connect = (port: number, host: string) =>
  new Promise<string>((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => (socket.destroy(), resolve('connected')));
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });

const request = (options: http.RequestOptions) =>
  new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', agent: false, ...options }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });

/** A master whose start is expected to fail: its exit and output. */
async function failingStart(metrics: Record<string, unknown>) {
  const handle = startMaster(
    { options: { exec: metricsApp, workers: 1 }, plugins: [{ package: '@master-process/plugin-metrics', export: 'metrics', options: metrics }] },
    { cwd: packageDir, env: { PORT: String(await freePort()) } },
  );
  handles.push(handle);
  const exit = await handle.exited;
  return { exit, handle, output: handle.output.join('\n') };
}

describe('the endpoint', () => {
  it('answers GET and HEAD on its path only, on loopback only by default; gone after stop', async () => {
    const { handle, metricsPort } = track(await startWithMetrics({ workers: 1 }));
    assert.equal(await handle.callApi('metrics', 'address'), `127.0.0.1:${metricsPort}`);
    const head = await request({ port: metricsPort, path: '/metrics', method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    assert.equal(head.headers['cache-control'], 'no-store');
    const post = await request({ port: metricsPort, path: '/metrics', method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    const other = await request({ port: metricsPort, path: '/' });
    assert.equal(other.status, 404);
    assert.match(other.body, /The metrics are at \/metrics/);
    assert.equal((await request({ port: metricsPort, path: '/metrics?x=1' })).status, 200, 'a query string is ignored');
    // Reachable from this machine only: another interface's address of this same host refuses.
    const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
    if (external) assert.equal(await connect(metricsPort, external.address), 'ECONNREFUSED', `${external.address}:${metricsPort} must refuse`);
    else console.log('# no non-loopback IPv4 interface here: the loopback-only check is skipped');
    // The scrape the API gives is the page the endpoint serves.
    assert.match(await handle.callApi('metrics', 'scrape'), /^# HELP master_process_/);
    await handle.stop();
    assert.equal(await connect(metricsPort, '127.0.0.1'), 'ECONNREFUSED', 'no socket survives stop()');
  });

  it('a unix socket endpoint is 0600; a stale socket is replaced; it is removed at stop', async () => {
    const dir = tempDir('mp-metrics-');
    dirs.push(dir);
    const path = join(dir.path, 'metrics.sock');
    await staleSocket(path);
    const { handle } = track(await startWithMetrics({ workers: 1, metrics: { port: undefined, socket: path } }));
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const page = await httpGet({ socketPath: path, path: '/metrics' });
    assert.equal(page.status, 200);
    assert.equal(value(String(page.body), 'master_process_workers_desired'), 1);
    await handle.stop();
    assert.throws(() => statSync(path), /ENOENT/);
  });

  it('refuses to start, before any fork, on a port in use or a path that is not a socket; the file is left untouched', async () => {
    const busy = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => busy.once('listening', resolve));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      const { exit, handle, output } = await failingStart({ port });
      assert.notEqual(exit.code, 0);
      assert.match(output, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE\\. Pick a free port with METRICS_PORT`));
      assert.equal(handle.count('worker:fork'), 0);
    } finally {
      busy.close();
    }
    const dir = tempDir('mp-metrics-');
    dirs.push(dir);
    const file = join(dir.path, 'not-a-socket');
    writeFileSync(file, 'mine');
    const { exit, output } = await failingStart({ socket: file });
    assert.notEqual(exit.code, 0);
    assert.match(output, /cannot listen on .*not-a-socket: it is a regular file, not a socket, and is left untouched/);
    assert.equal(readFileSync(file, 'utf8'), 'mine');
  });

  it('bad settings fail createMaster naming the setting, the value and what is accepted', async () => {
    const bad = async (metrics: Record<string, unknown>, env: Record<string, string>, pattern: RegExp) => {
      const handle = startMaster(
        { options: { exec: metricsApp, workers: 1 }, plugins: [{ package: '@master-process/plugin-metrics', export: 'metrics', options: metrics }] },
        { cwd: packageDir, env: { PORT: String(await freePort()), ...env } },
      );
      handles.push(handle);
      await handle.exited;
      assert.match(handle.output.join('\n'), pattern);
      assert.equal(handle.count('worker:fork'), 0);
    };
    await bad({}, { METRICS_PORT: 'abc' }, /environment variable METRICS_PORT: got "abc"\. Accepted: an integer >= 0 and <= 65535/);
    await bad({ socket: 'relative.sock' }, {}, /option `socket`: got "relative\.sock"\. Accepted: an absolute path for a unix socket/);
    await bad({ socket: '/tmp/x.sock', port: 1 }, {}, /either `socket` or `port`\/`host`, not both/);
    await bad({ prot: 1 }, {}, /prot/);
  });
});
