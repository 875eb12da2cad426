// The hooks called directly, on real files and real sockets in a temp folder (the WorkerInfo is plain data).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ListeningAddress, Master, Plugin, WorkerInfo } from '@master-process/core';
import { tempDir } from '@master-process/testkit';
import { unixSocket, UnixSocketErrorCode } from '../src/index.js';
import { staleSocket } from './helpers.js';

const worker: WorkerInfo = { id: 1, pid: 4242, slot: 0, generation: 0, state: 'listening', reason: 'start', forkedAt: 0 };
const at = (path: string): ListeningAddress => ({ address: path, addressType: -1 });
const master = {} as Master;
const exitInfo = { code: 0, reason: 'SIGTERM' };
const modeOf = (path: string) => lstatSync(path).mode & 0o777;

async function refuses(plugin: Plugin, code: string, ...mentions: string[]): Promise<void> {
  await assert.rejects(
    async () => plugin.setup!(master),
    (error: Error & { code?: string }) => {
      assert.equal(error.code, code);
      for (const m of mentions) assert.ok(error.message.includes(m), `"${error.message}" should mention ${m}`);
      return true;
    },
  );
}

function listen(path: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((c) => c.end());
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}

describe('hooks on real files', () => {
  let dir: ReturnType<typeof tempDir>;
  let sock: string;
  const servers: net.Server[] = [];
  beforeEach(() => {
    dir = tempDir('mp-us-hooks-');
    sock = `${dir.path}/app.sock`;
  });
  afterEach(async () => {
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
    dir.remove();
  });

  it('setup removes a stale socket and leaves a free path alone', async () => {
    await staleSocket(sock);
    assert.ok(lstatSync(sock).isSocket());
    const plugin = unixSocket({ path: sock });
    await plugin.setup!(master);
    assert.equal(existsSync(sock), false);
    await plugin.setup!(master); // nothing there: nothing to do
  });

  it('setup refuses a regular file, a directory, a symlink (even to a stale socket) and a FIFO, deleting none', async () => {
    const file = `${dir.path}/file`;
    writeFileSync(file, 'keep me');
    await refuses(unixSocket({ path: file }), UnixSocketErrorCode.NOT_A_SOCKET, file, 'a regular file');
    assert.equal(readFileSync(file, 'utf8'), 'keep me');

    const sub = `${dir.path}/sub`;
    mkdirSync(sub);
    await refuses(unixSocket({ path: sub }), UnixSocketErrorCode.NOT_A_SOCKET, sub, 'a directory');
    assert.ok(lstatSync(sub).isDirectory());

    await staleSocket(sock);
    const link = `${dir.path}/link.sock`;
    symlinkSync(sock, link);
    await refuses(unixSocket({ path: link }), UnixSocketErrorCode.NOT_A_SOCKET, link, 'a symbolic link');
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.ok(lstatSync(sock).isSocket(), 'the symlink target is not followed');

    const fifo = `${dir.path}/fifo`;
    execFileSync('mkfifo', [fifo]);
    await refuses(unixSocket({ path: fifo }), UnixSocketErrorCode.NOT_A_SOCKET, fifo, 'a FIFO');
    assert.ok(lstatSync(fifo).isFIFO());
  });

  it('setup refuses a socket another process serves, and leaves it served', async () => {
    servers.push(await listen(sock));
    await refuses(unixSocket({ path: sock }), UnixSocketErrorCode.IN_USE, sock, 'another process');
    assert.ok(lstatSync(sock).isSocket());
  });

  it('setup refuses a path it cannot inspect', async () => {
    const file = `${dir.path}/file`;
    writeFileSync(file, '');
    const path = `${file}/app.sock`; // a regular file used as a directory
    await refuses(unixSocket({ path }), UnixSocketErrorCode.UNUSABLE, path, 'ENOTDIR');
  });

  it('onListening sets the mode of a unix socket and ignores TCP', async () => {
    servers.push(await listen(sock));
    const plugin = unixSocket({ path: sock, mode: '600' });
    await plugin.onListening!(worker, { address: '127.0.0.1', port: 3000, addressType: 4 });
    assert.notEqual(modeOf(sock), 0o600);
    await plugin.onListening!(worker, at(sock));
    assert.equal(modeOf(sock), 0o600);
  });

  it('onExit removes the socket workers listened on, when it is still that socket', async () => {
    await staleSocket(sock); // what a master's open handle leaves when the process exits at once
    const plugin = unixSocket({ path: sock });
    await plugin.onListening!(worker, at(sock));
    await plugin.onExit!(exitInfo);
    assert.equal(existsSync(sock), false);
  });

  it('onExit never removes what replaced our socket: a file, or another socket', async () => {
    await staleSocket(sock);
    const plugin = unixSocket({ path: sock });
    await plugin.onListening!(worker, at(sock));
    // Someone else's socket now (another master that started on the path): not ours to remove.
    await staleSocket(`${dir.path}/tmp.sock`);
    rmSync(sock);
    renameSync(`${dir.path}/tmp.sock`, sock);
    await plugin.onExit!(exitInfo);
    assert.ok(lstatSync(sock).isSocket(), 'a socket with another inode is left');

    const again = unixSocket({ path: sock });
    await again.onListening!(worker, at(sock));
    rmSync(sock);
    writeFileSync(sock, 'not a socket');
    await again.onExit!(exitInfo);
    assert.equal(readFileSync(sock, 'utf8'), 'not a socket');
  });

  it('onExit leaves a socket bound anew at the path, even when it got the freed inode number', async () => {
    // As when the only worker crashes: the handle closes (libuv unlinks the file) and a new bind follows.
    const first = await listen(sock);
    const plugin = unixSocket({ path: sock });
    await plugin.onListening!(worker, at(sock));
    const ino = lstatSync(sock).ino;
    await new Promise((resolve) => first.close(resolve));
    servers.push(await listen(sock));
    console.log(`# socket bound anew: inode number ${lstatSync(sock).ino === ino ? 'reused' : 'not reused'}`);
    await plugin.onExit!(exitInfo);
    assert.ok(lstatSync(sock).isSocket(), 'the new socket is left');
  });
});
