// bindControlSocket in this process (a cluster primary, as the master is), on real files in a temp folder.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createLogger } from '@master-process/core';
import { staleSocket, tempDir } from '@master-process/testkit';
import { bindControlSocket } from '../src/bind.js';
import type { ResolvedControlOptions } from '../src/options.js';

const log = createLogger('control-test');
const modeOf = (path: string) => lstatSync(path).mode & 0o777;
const settings = (candidates: { path: string; ownFolder: boolean }[], extra: Partial<ResolvedControlOptions> = {}): ResolvedControlOptions => ({
  candidates, name: 'test', maxLineBytes: 65536, maxClients: 32, ...extra,
});

describe('binding the control socket', () => {
  let dir: ReturnType<typeof tempDir>;
  let servers: net.Server[];
  const server = () => {
    const s = net.createServer();
    servers.push(s);
    return s;
  };
  beforeEach(() => {
    dir = tempDir('mp-ctl-');
    servers = [];
  });
  afterEach(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => (s.listening ? s.close(resolve) : resolve(undefined)))));
    dir.remove();
  });

  it('the socket is 0600 the moment it exists (no window before a chmod), in a new 0700 folder', async () => {
    assert.equal(process.umask() & 0o077, 0o022 & 0o077, 'run with a usual umask such as 022, which alone would make the socket 0755');
    const folder = join(dir.path, 'master-process');
    const path = join(folder, 'test.sock');
    const s = server();
    const listen = s.listen;
    let modeAtBind: number | undefined;
    s.listen = function (this: net.Server, ...args: unknown[]) {
      const result = (listen as (...a: unknown[]) => net.Server).apply(this, args);
      modeAtBind = modeOf(path); // bind() has run: the file exists, nothing has chmod'ed it yet
      return result;
    } as never;
    const result = await bindControlSocket(s, settings([{ path, ownFolder: true }]), log);
    assert.deepEqual({ ok: result.ok, path: result.ok && result.path }, { ok: true, path });
    assert.equal(modeAtBind?.toString(8), '600');
    assert.equal(modeOf(path).toString(8), '600');
    assert.equal(modeOf(folder).toString(8), '700');
    assert.equal(process.umask() & 0o777, 0o022, 'the umask is restored');
  });

  it('tightens a loose folder of ours to 0700, and leaves a folder the user chose as it is', async () => {
    const own = join(dir.path, '.master-process');
    mkdirSync(own, { mode: 0o755 });
    chmodSync(own, 0o755);
    assert.equal((await bindControlSocket(server(), settings([{ path: join(own, 'a.sock'), ownFolder: true }]), log)).ok, true);
    assert.equal(modeOf(own).toString(8), '700');
    const chosen = join(dir.path, 'run');
    mkdirSync(chosen);
    chmodSync(chosen, 0o755);
    assert.equal((await bindControlSocket(server(), settings([{ path: join(chosen, 'b.sock'), ownFolder: false }]), log)).ok, true);
    assert.equal(modeOf(chosen).toString(8), '755');
    assert.equal(modeOf(join(chosen, 'b.sock')).toString(8), '600', 'the socket alone still shuts others out');
  });

  it('with a group: socket 0660 and our folder 0710, both owned by that group', async () => {
    const own = join(dir.path, 'master-process');
    const gid = 65534;
    const result = await bindControlSocket(server(), settings([{ path: join(own, 'g.sock'), ownFolder: true }], { group: { gid, label: 'nogroup' } }), log);
    assert.equal(result.ok, true);
    assert.equal(modeOf(join(own, 'g.sock')).toString(8), '660');
    assert.equal(lstatSync(join(own, 'g.sock')).gid, gid);
    assert.equal(modeOf(own).toString(8), '710');
    assert.equal(statSync(own).gid, gid);
  });

  it('removes a stale socket (a killed master left it), and binds', async () => {
    mkdirSync(join(dir.path, 'own'), { mode: 0o700 });
    const path = join(dir.path, 'own', 's.sock');
    await staleSocket(path);
    const result = await bindControlSocket(server(), settings([{ path, ownFolder: true }]), log);
    assert.equal(result.ok, true);
  });

  it('never takes over a live socket, nor touches what is not a socket; each is one warning', async () => {
    mkdirSync(join(dir.path, 'own'), { mode: 0o700 });
    const live = join(dir.path, 'own', 'live.sock');
    const other = server();
    await new Promise<void>((resolve) => other.listen(live, resolve));
    const fallback = join(dir.path, 'fallback', 'x.sock');
    const refused = await bindControlSocket(server(), settings([{ path: live, ownFolder: true }, { path: fallback, ownFolder: true }]), log);
    assert.equal(refused.ok, false);
    assert.match(!refused.ok ? refused.warning : '', /another process \(another master\?\) serves the control socket .*live\.sock; this master has none. To control both, give each master its own name \(MASTER_PROCESS_NAME=<name>/);
    assert.equal(existsSync(fallback), false, 'a second master with the same name does not hide in another folder');
    const still = await new Promise((resolve) => {
      const c = net.connect(live).once('connect', () => (c.destroy(), resolve('served'))).once('error', resolve);
    });
    assert.equal(still, 'served');

    const file = join(dir.path, 'own', 'file.sock');
    writeFileSync(file, 'precious\n');
    const notSocket = await bindControlSocket(server(), settings([{ path: file, ownFolder: true }]), log);
    assert.match(!notSocket.ok ? notSocket.warning : '', /file\.sock is a regular file, not a socket; it is left untouched/);
    assert.equal(readFileSync(file, 'utf8'), 'precious\n');
  });

  it('an unusable place: falls back to the next candidate, and when none works says what was tried and how to fix it', async () => {
    const file = join(dir.path, 'not-a-folder');
    writeFileSync(file, '');
    const good = join(dir.path, 'good', 'ok.sock');
    const fallback = await bindControlSocket(server(), settings([{ path: join(file, 'master-process', 'a.sock'), ownFolder: true }, { path: good, ownFolder: true }]), log);
    assert.deepEqual(fallback.ok && fallback.path, good);
    const none = await bindControlSocket(server(), settings([{ path: join(file, 'sub', 'a.sock'), ownFolder: false }, { path: `/${'x'.repeat(110)}/a.sock`, ownFolder: true }]), log);
    assert.equal(none.ok, false);
    const warning = !none.ok ? none.warning : '';
    assert.match(warning, /no control socket \(.*not-a-folder\/sub: ENOTDIR; \/x+\/a\.sock: longer than the 107 bytes/);
    assert.match(warning, /the master serves as usual.*Point the socket at a writable folder: MASTER_PROCESS_SOCKET_DIR=\/path\/to\/folder/);
  });

  it('refuses a folder of ours that belongs to another user, or is a symlink', async () => {
    const theirs = join(dir.path, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    const { chownSync, symlinkSync } = await import('node:fs');
    chownSync(theirs, 65534, 65534);
    const result = await bindControlSocket(server(), settings([{ path: join(theirs, 'a.sock'), ownFolder: true }]), log);
    assert.match(!result.ok ? result.warning : '', /belongs to uid 65534, not to this user/);
    const link = join(dir.path, 'link');
    symlinkSync(dir.path, link);
    const linked = await bindControlSocket(server(), settings([{ path: join(link, 'a.sock'), ownFolder: true }]), log);
    assert.match(!linked.ok ? linked.warning : '', /link is not a directory/);
  });
});
