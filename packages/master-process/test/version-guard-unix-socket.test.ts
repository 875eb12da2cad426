// plugin-version-guard exits through the core's stop(), so every plugin's onExit runs: the unix socket
// plugin removes its socket and the next master finds a clean path. The two plugins never import each other.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { fixtures, startMaster, tempDir } from '@master-process/testkit';

const cwd = join(import.meta.dirname, '..');

function get(socketPath: string): Promise<{ pid: number }> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk)).on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });
}

test('a version change exits with code 1 and the unix socket is removed on the way out', async () => {
  const dir = tempDir('mp-vg-socket-');
  const manifest = join(dir.path, 'node_modules', 'fake-guarded', 'package.json');
  mkdirSync(join(manifest, '..'), { recursive: true });
  writeFileSync(manifest, JSON.stringify({ name: 'fake-guarded', version: '1.0.0' }));
  const socket = join(dir.path, 'app.sock');
  const handle = startMaster(
    {
      options: { exec: fixtures.app, workers: 2, killTimeout: '5s' },
      // The fixture resolves the packages' `require` entries: name the exports.
      plugins: [
        { package: '@master-process/plugin-unix-socket', export: 'unixSocket', options: { path: socket } },
        { package: '@master-process/plugin-version-guard', export: 'versionGuard', options: { packages: ['fake-guarded'], cwd: dir.path, on: 'change', settle: 100, interval: 100 } },
      ],
    },
    { cwd, env: { PORT: socket, DEBUG: 'master-process:unix-socket' } },
  );
  try {
    await handle.started();
    assert.ok(lstatSync(socket).isSocket());
    assert.ok((await get(socket)).pid > 0, 'the app serves on the socket');

    writeFileSync(manifest, JSON.stringify({ name: 'fake-guarded', version: '1.0.1' }));
    const exit = await handle.exited;
    assert.equal(exit.code, 1, handle.tail());
    const stopping = handle.events.find((e) => e.ev === 'master:stopping');
    assert.deepEqual(stopping?.args?.[0], { code: 1, reason: 'version changed: fake-guarded 1.0.0 -> 1.0.1' });
    assert.equal(handle.count('worker:fork'), 2, 'nothing forked after the change');
    assert.equal(existsSync(socket), false, `${socket} is gone\n${handle.tail()}`);
    // Node itself unlinks the socket when the master's listening handle closes; the plugin's own
    // clean-up (onExit) says what it found.
    const cleanup = handle.output.find((line) => line.includes('master-process:unix-socket') && line.includes(socket) && /removed|already gone/.test(line));
    assert.ok(cleanup, `the unix socket plugin's onExit ran\n${handle.tail()}`);
  } finally {
    await handle.cleanup();
    dir.remove();
  }
});
