// The 4.x drop-in from the folder layouts users have, not just ours: the package linked into the app
// (pnpm), the app script outside the folder that holds node_modules, master-process loaded by absolute path,
// and another copy of master-process reachable from the script's folder. The version guard must guard the
// copy that runs, and never refuse to start.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, startMaster, tempDir, type MasterHandle } from '@master-process/testkit';

const umbrella = fileURLToPath(new URL('..', import.meta.url));
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** The 4.x pattern, with a plain app: nothing but its server holds the loop. */
const appSource = (load: string) => `const cluster = require('node:cluster');
if (cluster.isPrimary) {
  require(${load}).init();
  return;
}
const server = require('node:http').createServer((req, res) => res.end(JSON.stringify({ pid: process.pid, gen: process.env.RELOAD_INDEX })));
server.listen(Number(process.env.PORT));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

/**
 * A private copy of the built umbrella (its package.json is ours to bump) in a pnpm-like store, its
 * dependencies linked to the workspace's, and an app folder whose node_modules/master-process links to it.
 */
function layout() {
  const root = tempDir('mp-layout-');
  cleanups.push(() => root.remove());
  const store = join(root.path, 'store', 'node_modules');
  const copy = join(store, 'master-process');
  mkdirSync(copy, { recursive: true });
  cpSync(join(umbrella, 'dist'), join(copy, 'dist'), { recursive: true });
  const manifest = join(copy, 'package.json');
  const pkg = JSON.parse(readFileSync(join(umbrella, 'package.json'), 'utf8'));
  writeFileSync(manifest, JSON.stringify({ ...pkg, version: '5.0.0' }, null, 2));
  symlinkSync(join(umbrella, 'node_modules', '@master-process'), join(store, '@master-process'));
  const app = join(root.path, 'app');
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  symlinkSync(copy, join(app, 'node_modules', 'master-process'));
  const bump = (version: string) => writeFileSync(manifest, JSON.stringify({ ...pkg, version }, null, 2));
  return { root: root.path, app, copy, bump };
}

function run(script: string, cwd: string, port: number): MasterHandle {
  const m = startMaster({}, { cwd, script, env: { PORT: String(port), WORKERS: '1', MAX_KILL_TIMEOUT: '3s', DEBUG: 'master-process:core,master-process:version-guard' } });
  cleanups.push(() => m.cleanup());
  return m;
}

const logged = (m: MasterHandle, pattern: RegExp) => m.until(`a log line ${pattern}`, () => m.output.find((l) => pattern.test(l)));

function get(port: number): Promise<{ pid: number; gen: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c)).on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });
}

describe('the drop-in from other folder layouts', () => {
  it('linked into the app folder (pnpm): guards that copy through the link; a bump then SIGHUP exits 1', async () => {
    const l = layout();
    const script = join(l.app, 'server.cjs');
    writeFileSync(script, appSource("'master-process'"));
    const port = await freePort();
    const m = run(script, l.app, port);
    await logged(m, /master \d+ running/);
    const guarded = await logged(m, /guarding master-process /);
    assert.ok(guarded.includes(`5.0.0 (${join(l.app, 'node_modules', 'master-process', 'package.json')})`), guarded);
    assert.equal((await get(port)).gen, '0');
    l.bump('5.0.1');
    m.signal('SIGHUP');
    assert.equal((await m.exited).code, 1, m.tail());
    assert.ok(m.output.some((l) => l.includes('master-process was upgraded on disk (5.0.0 -> 5.0.1)')), m.tail());
  });

  it('script outside the app folder, loaded by absolute path, another copy reachable from the script: starts, ignores that copy, guards the running one', async () => {
    const l = layout();
    const elsewhere = join(l.root, 'elsewhere');
    const decoy = join(elsewhere, 'node_modules', 'master-process');
    mkdirSync(decoy, { recursive: true });
    writeFileSync(join(decoy, 'package.json'), JSON.stringify({ name: 'master-process', version: '4.2.0' }));
    const script = join(elsewhere, 'server.cjs');
    writeFileSync(script, appSource(JSON.stringify(join(l.app, 'node_modules', 'master-process'))));
    const port = await freePort();
    // Started from / as systemd does.
    const m = run(script, '/', port);
    await logged(m, /master \d+ running/);
    const guarded = await logged(m, /guarding master-process /);
    assert.ok(guarded.includes(`5.0.0 (${join(l.copy, 'package.json')})`), guarded);
    await logged(m, /master-process: ignoring .*elsewhere\/node_modules\/master-process\/package\.json, another copy/);
    writeFileSync(join(decoy, 'package.json'), JSON.stringify({ name: 'master-process', version: '4.3.0' }));
    m.signal('SIGHUP');
    await logged(m, /reload 1: done/);
    assert.equal((await get(port)).gen, '1');
    l.bump('5.1.0');
    m.signal('SIGHUP');
    assert.equal((await m.exited).code, 1, m.tail());
    assert.ok(m.output.some((l) => l.includes('master-process was upgraded on disk (5.0.0 -> 5.1.0)')), m.tail());
  });
});
