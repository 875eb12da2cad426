// The umbrella as users install it: the packed tarballs (`pnpm pack`, so workspace ranges are rewritten as
// on publish) installed with npm in a temp app folder, and a plain 4.x app whose script lives outside that
// folder (it loads master-process by absolute path). Nothing of the workspace is on its resolution path.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, httpGet, isAlive, runLoad, startMaster, tempDir, waitUntil, type MasterHandle } from '@master-process/testkit';

const packagesDir = fileURLToPath(new URL('../..', import.meta.url));
const root = tempDir('mp-installed-');
const app = join(root.path, 'app');
const markers = join(root.path, 'markers');
const handles: MasterHandle[] = [];

/** pnpm as the test runs under it (turbo → pnpm run test), else the pinned one through npx. */
function pnpm(args: string[], cwd: string): void {
  const execpath = process.env.npm_execpath;
  if (execpath && /pnpm/.test(execpath)) execFileSync(process.execPath, [execpath, ...args], { cwd, stdio: 'pipe' });
  else execFileSync('npx', ['-y', 'pnpm@10.34.9', ...args], { cwd, stdio: 'pipe' });
}

/** The umbrella and every workspace package it depends on, by name → folder. */
function publishedSet(): Map<string, string> {
  const byName = new Map<string, string>();
  for (const dir of readdirSync(packagesDir)) {
    const file = join(packagesDir, dir, 'package.json');
    if (existsSync(file)) byName.set(JSON.parse(readFileSync(file, 'utf8')).name, join(packagesDir, dir));
  }
  const umbrella = JSON.parse(readFileSync(join(byName.get('master-process')!, 'package.json'), 'utf8'));
  const wanted = ['master-process', ...Object.entries(umbrella.dependencies as Record<string, string>).filter(([, v]) => v.startsWith('workspace:')).map(([k]) => k)];
  return new Map(wanted.map((name) => [name, byName.get(name)!]));
}

// A plain app: nothing but its server holds the event loop; its SIGTERM handler closes the server, then
// leaves a marker (its clean-up) and exits.
const plainApp = (masterProcess: string) => `const cluster = require('node:cluster');
if (cluster.isPrimary) {
  require(${JSON.stringify(masterProcess)}).init();
  return;
}
const fs = require('node:fs');
const server = require('node:http').createServer((req, res) => res.end(JSON.stringify({ pid: process.pid })));
server.listen(Number(process.env.PORT));
process.on('SIGTERM', () => server.close(() => {
  fs.writeFileSync(${JSON.stringify(markers)} + '/' + process.pid, 'cleaned up');
  process.exit(0);
}));
`;

before(() => {
  const tarballs = join(root.path, 'tarballs');
  mkdirSync(tarballs);
  mkdirSync(markers);
  const dependencies: Record<string, string> = {};
  for (const [name, dir] of publishedSet()) {
    const before = new Set(readdirSync(tarballs));
    pnpm(['pack', '--pack-destination', tarballs], dir);
    const tarball = readdirSync(tarballs).find((f) => !before.has(f))!;
    dependencies[name] = `file:${join(tarballs, tarball)}`;
  }
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'installed-app', private: true, dependencies }, null, 2));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, stdio: 'pipe' });
});

after(async () => {
  for (const h of handles) await h.cleanup();
  root.remove();
});

describe('master-process installed from its tarballs', () => {
  it('a plain 4.x app outside the install folder: starts, reloads with no failed request, every retired worker runs its SIGTERM clean-up, an upgrade exits 1', async () => {
    const script = join(root.path, 'srv', 'server.cjs');
    mkdirSync(join(root.path, 'srv'));
    const installed = join(app, 'node_modules', 'master-process');
    writeFileSync(script, plainApp(installed));
    const port = await freePort();
    const m = startMaster({}, { cwd: '/', script, env: { PORT: String(port), WORKERS: '2', MAX_KILL_TIMEOUT: '5s', DEBUG: 'master-process:core' } });
    handles.push(m);
    await m.until('the master running', () => m.output.some((l) => /master \d+ running/.test(l)));
    const pids = () => [...m.output.join('\n').matchAll(/PID\/(\d+): forked/g)].map((x) => Number(x[1]));
    const first = pids();
    assert.equal(first.length, 2);

    const load = runLoad({ target: { port }, connections: 8, keepAlive: true });
    m.signal('SIGHUP');
    await m.until('reload 1 done', () => m.output.some((l) => /reload 1: done/.test(l)));
    load.stop();
    const result = await load.done;
    assert.equal(result.failed, 0, JSON.stringify(result.failures));
    for (const pid of first) assert.ok(existsSync(join(markers, String(pid))), `retired worker ${pid} ran its SIGTERM clean-up\n${m.tail()}`);

    const manifest = join(installed, 'package.json');
    const pkg = JSON.parse(readFileSync(manifest, 'utf8'));
    writeFileSync(manifest, JSON.stringify({ ...pkg, version: `${pkg.version}-upgraded` }));
    m.signal('SIGHUP');
    assert.equal((await m.exited).code, 1, m.tail());
    assert.ok(m.output.some((l) => l.includes(`master-process was upgraded on disk (${pkg.version} -> ${pkg.version}-upgraded)`)), m.tail());
    const all = pids();
    assert.equal(all.length, 4, 'nothing was forked after the upgrade');
    await waitUntil(() => all.every((pid) => !isAlive(pid)), 10_000, 'every worker gone');
    for (const pid of all) assert.ok(existsSync(join(markers, String(pid))), `worker ${pid} ran its SIGTERM clean-up on the version-guard exit`);
  });

  it('a plain app whose master is SIGKILLed: its workers answer the requests in flight, run their SIGTERM clean-up, and leave', async () => {
    const dir = join(root.path, 'orphans');
    mkdirSync(dir, { recursive: true });
    const script = join(dir, 'server.cjs');
    const arrived = join(dir, 'arrived');
    writeFileSync(script, `const cluster = require('node:cluster');
if (cluster.isPrimary) {
  require(${JSON.stringify(join(app, 'node_modules', 'master-process'))}).init();
  return;
}
const fs = require('node:fs');
const server = require('node:http').createServer((req, res) => {
  fs.appendFileSync(${JSON.stringify(arrived)}, process.pid + '\\n');
  setTimeout(() => res.end('done by ' + process.pid), 1500);
});
server.listen(Number(process.env.PORT));
process.on('SIGTERM', () => server.close(() => {
  fs.writeFileSync(${JSON.stringify(dir)} + '/cleaned-' + process.pid, 'cleaned up');
  process.exit(0);
}));
`);
    const port = await freePort();
    const m = startMaster({}, { cwd: '/', script, env: { PORT: String(port), WORKERS: '2', MAX_KILL_TIMEOUT: '10s', DEBUG: 'master-process:core' } });
    handles.push(m);
    await m.until('the master running', () => m.output.some((l) => /master \d+ running/.test(l)));
    const workers = [...m.output.join('\n').matchAll(/PID\/(\d+): forked/g)].map((x) => Number(x[1]));
    assert.equal(workers.length, 2);
    const inFlight = Array.from({ length: 4 }, () => httpGet({ port }, 60_000));
    await waitUntil(() => existsSync(arrived) && readFileSync(arrived, 'utf8').trim().split('\n').length === 4, 30_000, 'four requests at the workers');
    process.kill(m.pid!, 'SIGKILL');
    assert.equal((await m.exited).signal, 'SIGKILL');
    const answers = await Promise.all(inFlight);
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200], 'every request in flight was answered after the master died');
    await waitUntil(() => workers.every((pid) => !isAlive(pid)), 30_000, 'the orphans to leave');
    const served = new Set(readFileSync(arrived, 'utf8').trim().split('\n').map(Number));
    for (const pid of served) assert.ok(existsSync(join(dir, `cleaned-${pid}`)), `orphan ${pid} ran its SIGTERM clean-up`);
  });

  it('METRICS_PORT: without prom-client one line saying to install it, exit 1; with it, /metrics sums the app\'s counter over the workers', async () => {
    const script = join(root.path, 'srv', 'metrics.cjs');
    mkdirSync(join(root.path, 'srv'), { recursive: true });
    const promClient = join(app, 'node_modules', 'prom-client');
    writeFileSync(script, `const cluster = require('node:cluster');
if (cluster.isPrimary) {
  require(${JSON.stringify(join(app, 'node_modules', 'master-process'))}).init();
  return;
}
const client = require(${JSON.stringify(promClient)});
const served = new client.Counter({ name: 'served_total', help: 'Responses.' });
const server = require('node:http').createServer((req, res) => (served.inc(), res.end('ok')));
server.listen(Number(process.env.PORT));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`);
    const start = async () => {
      const [port, metricsPort] = [await freePort(), await freePort()];
      const m = startMaster({}, { cwd: '/', script, env: { PORT: String(port), WORKERS: '2', METRICS_PORT: String(metricsPort), DEBUG: 'master-process:core' } });
      handles.push(m);
      return { m, port, metricsPort };
    };
    // prom-client is an optional peer dependency: npm did not install it with master-process.
    assert.equal(existsSync(promClient), false);
    const without = await start();
    assert.equal((await without.m.exited).code, 1);
    assert.match(without.m.output.join('\n'), /@master-process\/plugin-metrics needs prom-client \(a peer dependency\): install it next to your app with `npm install prom-client`/);
    assert.ok(!without.m.output.some((l) => /PID\/\d+: forked/.test(l)), 'nothing was forked');

    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', 'prom-client@15.1.3'], { cwd: app, stdio: 'pipe' });
    const { m, port, metricsPort } = await start();
    await m.until('the master running', () => m.output.some((l) => /master \d+ running/.test(l)));
    for (let i = 0; i < 10; i++) await httpGet({ port });
    const page = await httpGet({ port: metricsPort, path: '/metrics' });
    assert.equal(page.status, 200);
    assert.match(String(page.body), /^served_total 10$/m);
    assert.match(String(page.body), /^master_process_workers_desired 2$/m);
    m.signal('SIGTERM');
    assert.equal((await m.exited).code, 0);
  });
});
