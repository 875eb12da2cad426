import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { fixtures, freePort, startMaster, tempDir, type MasterHandle } from '@master-process/testkit';
import { versionGuard, type VersionGuardOptions } from '../src/index.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const FAKE = 'fake-guarded';

/** A temp app folder whose node_modules holds one package, `name` at `version`. */
function fakeApp(name = FAKE, version = '1.0.0') {
  const dir = tempDir('mp-version-guard-');
  const pkg = path.join(dir.path, 'node_modules', name);
  mkdirSync(pkg, { recursive: true });
  const manifest = path.join(pkg, 'package.json');
  const write = (v: string, file = manifest) => writeFileSync(file, JSON.stringify({ name, version: v, main: 'index.js' }, null, 2) + '\n');
  write(version);
  return { ...dir, pkg, manifest, write };
}

/** pnpm's layout: each version in node_modules/.pnpm, and node_modules/<name> a link to one of them. */
function pnpmLayout() {
  const dir = tempDir('mp-version-guard-');
  const store = (version: string) => {
    const pkg = path.join(dir.path, 'node_modules', '.pnpm', `${FAKE}@${version}`, 'node_modules', FAKE);
    mkdirSync(path.join(pkg, 'dist'), { recursive: true });
    writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: FAKE, version }));
    return pkg;
  };
  return { dir, store, link: path.join(dir.path, 'node_modules', FAKE) };
}

async function start(guard: VersionGuardOptions, env: Record<string, string> = {}, options: Record<string, unknown> = {}): Promise<MasterHandle> {
  const port = await freePort();
  const handle = startMaster(
    {
      options: { exec: fixtures.app, workers: 1, killTimeout: '5s', ...options },
      // The fixture resolves with require() conditions: the CJS build, whose `default` is module.exports.
      plugins: [{ package: '@master-process/plugin-version-guard', export: 'versionGuard', options: guard }],
      listen: ['version-guard:changed'],
    },
    { cwd: packageDir, env: { PORT: String(port), ...env } },
  );
  return handle;
}

/** The master's exit, or a failure naming what it printed last. */
function exitOf(handle: MasterHandle, timeout = 60_000) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`master did not exit within ${timeout} ms\n${handle.tail()}`)), timeout);
    timer.unref();
    void handle.exited.then((exit) => (clearTimeout(timer), resolve(exit)));
  });
}

const stopping = (handle: MasterHandle) => handle.events.find((e) => e.ev === 'master:stopping')?.args?.[0];
/** Every worker forked was retired by the master (disconnect, drain) and exited without SIGKILL. */
const retiredGracefully = (handle: MasterHandle) =>
  handle.count('worker:exit') === handle.count('worker:fork') &&
  handle.events.filter((e) => e.ev === 'worker:exit').every((e) => e.args?.[1]?.expected === true && e.args?.[1]?.signal !== 'SIGKILL');

test('a bumped version is noticed at once; SIGHUP then drains the worker and exits with code 1 instead of forking', async () => {
  const app = fakeApp();
  const handle = await start({ packages: [FAKE], cwd: app.path, settle: 100, interval: 100 });
  try {
    await handle.started();
    app.write('1.0.1');
    const changed = await handle.waitFor('version-guard:changed');
    assert.deepEqual({ ...changed.args?.[0], path: undefined }, { package: FAKE, from: '1.0.0', to: '1.0.1', path: undefined });
    // on: 'next-fork' (default): noticed and logged, but nothing happens until a fork is due.
    assert.equal((await handle.command('state')).state, 'running');

    handle.signal('SIGHUP');
    const exit = await exitOf(handle);
    assert.equal(exit.code, 1, handle.tail());
    assert.equal(handle.count('worker:fork'), 1, 'no worker is forked with a changed version');
    assert.deepEqual(stopping(handle), { code: 1, reason: `version changed: ${FAKE} 1.0.0 -> 1.0.1` });
    assert.ok(retiredGracefully(handle), 'the serving worker was retired (drained), not killed as a crash');
    assert.match(handle.output.join('\n'), /fake-guarded was upgraded on disk \(1\.0\.0 -> 1\.0\.1\)/);
  } finally {
    await handle.cleanup();
    app.remove();
  }
});

test("on: 'change' exits as soon as the file is replaced (rename-over), without a signal", async () => {
  const app = fakeApp();
  const handle = await start({ packages: [FAKE], cwd: app.path, on: 'change', settle: 100, interval: 100 });
  try {
    await handle.started();
    // npm and editors write a temp file and rename it over the old one.
    writeFileSync(`${app.manifest}.tmp`, JSON.stringify({ name: FAKE, version: '1.1.0' }));
    renameSync(`${app.manifest}.tmp`, app.manifest);
    const exit = await exitOf(handle);
    assert.equal(exit.code, 1, handle.tail());
    assert.equal(handle.count('worker:fork'), 1);
    assert.deepEqual(stopping(handle), { code: 1, reason: `version changed: ${FAKE} 1.0.0 -> 1.1.0` });
    assert.ok(retiredGracefully(handle));
  } finally {
    await handle.cleanup();
    app.remove();
  }
});

test('no false exit: same-version rewrite, truncate-then-write and delete-then-recreate; a reload still works; then a real bump exits', async () => {
  const app = fakeApp();
  const handle = await start({ packages: [FAKE], cwd: app.path, on: 'change', settle: 100, interval: 100 }, { DEBUG: 'master-process:version-guard' });
  const logged = (text: string) => handle.output.filter((line) => line.includes(text)).length;
  const after = (text: string, before: number, what: string) => handle.until(what, () => logged(text) > before, 30_000);
  const still = `${FAKE}: still 1.0.0`;
  try {
    await handle.started();

    let n = logged(still);
    writeFileSync(app.manifest, JSON.stringify({ name: FAKE, version: '1.0.0', description: 'rewritten' }));
    await after(still, n, 'the same-version rewrite to be checked');

    n = logged('unreadable (empty)');
    truncateSync(app.manifest, 0);
    await after('unreadable (empty)', n, 'the truncated file to be seen');
    n = logged(still);
    app.write('1.0.0');
    await after(still, n, 'the rewritten file to be checked');

    n = logged('unreadable (ENOENT)');
    unlinkSync(app.manifest);
    await after('unreadable (ENOENT)', n, 'the deleted file to be seen');
    n = logged(still);
    app.write('1.0.0');
    await after(still, n, 'the recreated file to be checked');

    // A half-written file (invalid JSON) is no version either.
    n = logged('not valid JSON');
    writeFileSync(app.manifest, '{"name": "fake-guarded", "vers');
    await after('not valid JSON', n, 'the half-written file to be seen');
    n = logged(still);
    app.write('1.0.0');
    await after(still, n, 'the completed file to be checked');

    assert.equal(handle.count('version-guard:changed'), 0);
    assert.equal(handle.count('master:stopping'), 0, handle.tail());
    // beforeFork lets an unchanged version through.
    const reloaded = await handle.command('reload');
    assert.equal(reloaded.generation, 1);

    app.write('1.0.1');
    const exit = await exitOf(handle);
    assert.equal(exit.code, 1, 'the watcher still works after all that');
    assert.equal(handle.count('worker:fork'), 2);
  } finally {
    await handle.cleanup();
    app.remove();
  }
});

test('a package folder replaced whole (npm) is seen, and the exit code is configurable', async () => {
  const app = fakeApp();
  const handle = await start({ packages: [FAKE], cwd: app.path, on: 'change', exitCode: 3, settle: 100, interval: 100 });
  try {
    await handle.started();
    const fresh = path.join(app.path, 'node_modules', `.${FAKE}-new`);
    mkdirSync(fresh);
    app.write('2.0.0', path.join(fresh, 'package.json'));
    renameSync(app.pkg, path.join(app.path, 'node_modules', `.${FAKE}-retired`));
    renameSync(fresh, app.pkg);
    const exit = await exitOf(handle);
    assert.equal(exit.code, 3, handle.tail());
    assert.deepEqual(stopping(handle), { code: 3, reason: `version changed: ${FAKE} 1.0.0 -> 2.0.0` });
    assert.equal(handle.count('worker:fork'), 1);
  } finally {
    await handle.cleanup();
    app.remove();
  }
});

test('node_modules deleted and installed again (npm ci) is seen', async () => {
  const app = fakeApp();
  const handle = await start({ packages: [FAKE], cwd: app.path, on: 'change', settle: 100, interval: 100 }, { DEBUG: 'master-process:version-guard' });
  try {
    await handle.started();
    rmSync(path.join(app.path, 'node_modules'), { recursive: true });
    await handle.until('the deletion to be seen', () => handle.output.some((line) => line.includes('unreadable (ENOENT)')), 30_000);
    mkdirSync(app.pkg, { recursive: true });
    app.write('1.2.0');
    const exit = await exitOf(handle);
    assert.equal(exit.code, 1, handle.tail());
    assert.deepEqual(stopping(handle), { code: 1, reason: `version changed: ${FAKE} 1.0.0 -> 1.2.0` });
  } finally {
    await handle.cleanup();
    app.remove();
  }
});

test('a swapped symlink (pnpm) is seen', async () => {
  const { dir, store, link } = pnpmLayout();
  symlinkSync(store('1.0.0'), link);
  const handle = await start({ packages: [FAKE], cwd: dir.path, on: 'change', settle: 100, interval: 100 });
  try {
    await handle.started();
    symlinkSync(store('1.0.1'), `${link}.tmp`);
    renameSync(`${link}.tmp`, link);
    const exit = await exitOf(handle);
    assert.equal(exit.code, 1, handle.tail());
    assert.deepEqual(stopping(handle), { code: 1, reason: `version changed: ${FAKE} 1.0.0 -> 1.0.1` });
  } finally {
    await handle.cleanup();
    dir.remove();
  }
});

test('a running copy ({ name, dir }) is guarded wherever the app lives; another copy reachable from cwd is ignored', async () => {
  // The running copy lives in one folder, the app's cwd holds an unrelated copy of the same package.
  const running = fakeApp(FAKE, '1.0.0');
  const other = fakeApp(FAKE, '7.0.0');
  const handle = await start(
    { packages: [{ name: FAKE, dir: path.join(running.pkg) }], cwd: other.path, on: 'change', settle: 100, interval: 100 },
    { DEBUG: 'master-process:version-guard' },
  );
  try {
    await handle.started();
    assert.ok(handle.output.some((l) => l.includes(`guarding ${FAKE} 1.0.0 (${running.manifest})`)), handle.tail());
    assert.ok(handle.output.some((l) => l.includes(`ignoring ${other.manifest}, another copy`)), handle.tail());
    other.write('7.0.1');
    // A reload checks every guarded package before it forks: the unrelated copy is no upgrade.
    assert.equal((await handle.command('reload')).generation, 1);
    assert.equal(handle.count('master:stopping'), 0, handle.tail());
    running.write('1.0.1');
    const exit = await exitOf(handle);
    assert.equal(exit.code, 1, handle.tail());
    assert.deepEqual(stopping(handle), { code: 1, reason: `version changed: ${FAKE} 1.0.0 -> 1.0.1` });
  } finally {
    await handle.cleanup();
    running.remove();
    other.remove();
  }
});

test('a running copy reached from cwd through a link (pnpm) is watched through that link, so a swap is seen', async () => {
  const { dir, store, link } = pnpmLayout();
  const first = store('1.0.0');
  symlinkSync(first, link);
  // As the umbrella does: dir is its own (real) folder.
  const handle = await start({ packages: [{ name: FAKE, dir: path.join(first, 'dist') }], cwd: dir.path, on: 'change', settle: 100, interval: 100 }, { DEBUG: 'master-process:version-guard' });
  try {
    await handle.started();
    assert.ok(handle.output.some((l) => l.includes(`guarding ${FAKE} 1.0.0 (${path.join(link, 'package.json')})`)), handle.tail());
    symlinkSync(store('1.0.1'), `${link}.tmp`);
    renameSync(`${link}.tmp`, link);
    const exit = await exitOf(handle);
    assert.equal(exit.code, 1, handle.tail());
    assert.deepEqual(stopping(handle), { code: 1, reason: `version changed: ${FAKE} 1.0.0 -> 1.0.1` });
  } finally {
    await handle.cleanup();
    dir.remove();
  }
});

test('the core guarded by default is the running one, not a copy in cwd', async () => {
  const decoy = fakeApp('@master-process/core', '9.9.9');
  const handle = await start({ cwd: decoy.path }, { DEBUG: 'master-process:version-guard' });
  try {
    await handle.started();
    const guarded = handle.output.find((l) => l.includes('guarding @master-process/core'));
    assert.ok(guarded && !guarded.includes('9.9.9') && !guarded.includes(decoy.path), handle.tail());
    assert.ok(handle.output.some((l) => l.includes(`ignoring ${decoy.manifest}, another copy`)), handle.tail());
    decoy.write('9.9.10');
    handle.signal('SIGHUP');
    await handle.waitFor('reload:done');
    assert.equal(handle.count('master:stopping'), 0, 'a decoy copy changing is no upgrade of the master');
  } finally {
    await handle.cleanup();
    decoy.remove();
  }
});

test('reads the installed core at start, and no watcher survives stop (the master exits by itself)', async () => {
  const core = JSON.parse(readFileSync(path.join(packageDir, 'node_modules/@master-process/core/package.json'), 'utf8'));
  // exitProcess: false: after stop() the process ends only if nothing (a watcher) holds the event loop.
  const handle = await start({}, { DEBUG: 'master-process:version-guard' }, { exitProcess: false });
  try {
    await handle.started();
    // The running core, seen through this package's node_modules link.
    const expected = `guarding @master-process/core ${core.version} (${path.join(packageDir, 'node_modules/@master-process/core/package.json')})`;
    assert.ok(handle.output.some((line) => line.includes(expected)), `expected "${expected}" in\n${handle.tail()}`);
    handle.signal('SIGTERM');
    await handle.waitFor('master:stopped');
    const exit = await exitOf(handle, 30_000);
    assert.deepEqual(exit, { code: 0, signal: null });
  } finally {
    await handle.cleanup();
  }
});

test('a package that cannot be found is a clear error at start', async () => {
  const app = fakeApp();
  const handle = await start({ packages: [FAKE, 'no-such-package-vg'], cwd: app.path });
  try {
    const exit = await exitOf(handle);
    assert.equal(exit.code, 1);
    // The master stops (exit 1) before start() rejects: what the operator sees is the plugin's one line.
    assert.ok(handle.output.some((l) => /^master-process: Plugin "version-guard" failed in its `setup` hook: .*cannot find package "no-such-package-vg" from .*mp-version-guard-/.test(l)), handle.tail());
    assert.equal(handle.count('worker:fork'), 0);
  } finally {
    await handle.cleanup();
    app.remove();
  }
});

test('bad options are clear errors at creation', () => {
  const cases: [VersionGuardOptions, RegExp][] = [
    [{ on: 'now' as never }, /invalid option `on`: got "now". Accepted: "next-fork" or "change"/],
    [{ packages: 'master-process' as never }, /invalid option `packages`: got "master-process". Accepted: an array of package names/],
    [{ packages: ['./lib'] }, /invalid option `packages\[0\]`: got "\.\/lib". Accepted: a package name/],
    [{ packages: [{ name: 'x', dir: '/no/such/dir' }] }, /invalid option `packages\[0\]\.dir`: got "\/no\/such\/dir". Accepted: the path of an existing directory/],
    [{ packages: [{ name: 'x', path: '/' }] as never }, /unknown option `packages\[0\]\.path`/],
    [{ exitCode: 256 }, /invalid option `exitCode`: got 256. Accepted: an integer >= 0 and <= 255/],
    [{ cwd: '/no/such/dir' }, /invalid option `cwd`: got "\/no\/such\/dir". Accepted: the path of an existing directory/],
    [{ settle: 'soon' }, /invalid option `settle`: got "soon"/],
    [{ interval: 0 }, /invalid option `interval`: got 0. Accepted: a duration of at least 10 ms/],
    [{ package: ['x'] } as never, /unknown option `package`. Accepted: packages, on/],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => versionGuard(options), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'MP_ERR_INVALID_OPTION');
      assert.match(error.message, /^@master-process\/plugin-version-guard: /);
      assert.match(error.message, message);
      return true;
    });
  }
});
