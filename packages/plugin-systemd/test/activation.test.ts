// Socket activation with real processes: systemd-socket-activate binds the socket, testkit's socket
// holder keeps it and starts the master with LISTEN_FDS, as a .socket unit would.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  fixtures, freePort, runLoad, socketActivationUnavailable, startActivatedMaster, tempDir, type MasterHandle,
} from '@master-process/testkit';
import { get, PACKAGE_DIR, startSystemdMaster } from './helpers.js';

const unavailable = socketActivationUnavailable();
if (unavailable) process.stdout.write(`# skipping the socket activation tests: ${unavailable}\n`);

const spec = (options: Record<string, unknown> = {}) => ({
  options: { exec: fixtures.app, workers: 2, killTimeout: '3s', ...options },
  plugins: [{ package: '@master-process/plugin-systemd', export: 'systemd' }],
});

function getUnix(socketPath: string, path = '/'): Promise<any> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c)).on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });
}

/** Ask (fresh connections) until `count` distinct workers answered. */
async function answers(ask: () => Promise<any>, count: number): Promise<any[]> {
  const seen = new Map<number, any>();
  for (let i = 0; i < 200 && seen.size < count; i++) {
    const answer = await ask();
    seen.set(answer.pid, answer);
  }
  return [...seen.values()];
}

describe('socket activation', { skip: unavailable }, () => {
  let dir: ReturnType<typeof tempDir>;
  let handle: MasterHandle | undefined;
  before(() => {
    dir = tempDir('mp-sa-');
  });
  afterEach(async () => {
    await handle?.cleanup();
    handle = undefined;
  });
  after(() => dir.remove());

  it('every worker serves the TCP socket systemd passed, on its own copy; LISTEN_* never reach the app', async () => {
    const port = await freePort();
    handle = await startActivatedMaster(spec(), { cwd: PACKAGE_DIR, listen: `127.0.0.1:${port}` });
    const ask = (path = '/') => get(port, path);
    const first = ask(); // systemd-socket-activate starts the holder at the first connection
    const master = await handle.started();
    assert.equal(typeof (await first).pid, 'number', 'the connection that started it all waited in the backlog and was served');
    const holder = handle.pid;
    const socket = statSync(`/proc/${holder}/fd/3`);
    const workers = await answers(() => ask('/env?names=PORT,LISTEN_PID,LISTEN_FDS,LISTEN_FDNAMES,MASTER_PROCESS_SYSTEMD_SOCKETS'), 2);
    assert.equal(workers.length, 2);
    for (const w of workers) assert.deepEqual(w.env, { WORKER_INDEX: w.env.WORKER_INDEX, RELOAD_INDEX: '0', PPID: String(master.pid), PORT: String(port) });
    for (const w of await answers(() => ask('/fd?n=3'), 2)) assert.deepEqual(w.fd, { dev: socket.dev, ino: socket.ino, socket: true }, `worker ${w.pid}: fd 3 is the socket systemd bound`);
    const listening = handle.events.filter((e) => e.ev === 'worker:listening').map((e) => e.args![1]);
    assert.deepEqual(listening, [{ address: '127.0.0.1', addressType: 4, port }, { address: '127.0.0.1', addressType: 4, port }], 'ready through the workers\' own report');

    // A rolling reload on the activated socket, under load.
    const load = runLoad({ target: { port }, connections: 4, keepAlive: true, durationMs: 60_000 });
    await handle.command('reload');
    load.stop();
    const result = await load.done;
    assert.equal(result.failed, 0, JSON.stringify(result.failures));
    assert.equal((await ask()).gen, 1);
  });

  it('a unix socket too: PORT is its path, and it stays systemd\'s (never removed)', async () => {
    const path = join(dir.path, 'app.sock');
    handle = await startActivatedMaster(spec(), { cwd: PACKAGE_DIR, listen: path });
    const first = getUnix(path);
    await handle.started();
    assert.equal(typeof (await first).pid, 'number');
    const workers = await answers(() => getUnix(path, '/env?names=PORT'), 2);
    assert.deepEqual(workers.map((w) => w.env.PORT), [path, path]);
    const listening = handle.events.filter((e) => e.ev === 'worker:listening').map((e) => e.args![1]);
    assert.deepEqual(listening, [{ address: path, addressType: -1 }, { address: path, addressType: -1 }]);
    await handle.command('reload');
    assert.equal((await getUnix(path)).gen, 1);
    // Stopped, the master leaves the socket to its owner: the next master (or systemd) serves on.
    const holderExits = () => handle!.appLines.filter((l) => l.app === 'holder-exit').length;
    handle.signal('SIGTERM');
    await handle.exited;
    assert.equal(holderExits(), 1);
    assert.ok(statSync(path).isSocket(), 'the socket file is still there');
  });

  it('a descriptor that is no stream socket (UDP) is named in a warning and left alone; the app listens on PORT itself', async () => {
    const udp = await freePort();
    const port = await freePort();
    handle = await startActivatedMaster(spec({ workers: 1 }), { cwd: PACKAGE_DIR, listen: `127.0.0.1:${udp}`, env: { PORT: String(port) }, datagram: true });
    const client = dgram.createSocket('udp4');
    client.send('start', udp, '127.0.0.1', () => client.close()); // a datagram starts the holder
    await handle.started();
    assert.ok(handle.output.some((l) => l.includes(`descriptor 3 ("web") from systemd is UDP 127.0.0.1:${udp}, not a listening TCP or unix stream socket: the workers do not serve it`)), handle.tail());
    assert.equal(typeof (await get(port)).pid, 'number');
  });

  it('LISTEN_FDS meant for another process are not used, with a warning; the workers do not see them', async () => {
    const port = await freePort();
    handle = startSystemdMaster({ options: { workers: 1 }, env: { LISTEN_PID: '1', LISTEN_FDS: '1', LISTEN_FDNAMES: 'web', PORT: String(port) } });
    await handle.started();
    assert.ok(handle.output.some((l) => l.includes('LISTEN_FDS is set for process 1, not for this master')), handle.tail());
    const { env } = await get(port, '/env?names=LISTEN_PID,LISTEN_FDS,LISTEN_FDNAMES');
    assert.equal(env.LISTEN_PID, undefined);
    assert.equal(env.LISTEN_FDS, undefined);
    assert.equal(env.LISTEN_FDNAMES, undefined);
  });
});
