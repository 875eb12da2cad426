// The `master-process` CLI, as deploy scripts use it: real CLI processes, a real master started by the CLI,
// real workers (the fixture app, a plain app), under load. "Deploying new code" = rewriting the app's config file.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isAlive, runLoad, sleep, waitUntil, type LoadResult, type MasterHandle } from '@master-process/testkit';
import { appDir, cli, get, runCli, serving, startCli, type App } from './cli-helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setUp(flags: string[] = ['--workers', '2'], env: Record<string, string | undefined> = {}): Promise<{ app: App; master: MasterHandle }> {
  const app = await appDir();
  cleanups.push(() => app.remove());
  const master = startCli(app, flags, env);
  cleanups.push(() => master.cleanup());
  return { app, master };
}

function load(app: App) {
  const l = runLoad({ target: { port: app.port }, connections: 16, keepAlive: true });
  cleanups.push(() => l.stop());
  return { stop: async (): Promise<LoadResult> => (l.stop(), l.done) };
}

const noFailures = (result: LoadResult) => {
  assert.ok(result.total > 100, `the load ran (${result.total} requests)`);
  assert.equal(result.failed, 0, `failed requests: ${JSON.stringify(result.failures)} ${JSON.stringify(result.firstFailures.slice(0, 3))}`);
};

describe('master-process CLI', () => {
  it('bad commands, flags, values and config files: one line naming the flag, the value and what is accepted, exit 2', async () => {
    const app = await appDir();
    cleanups.push(() => app.remove());
    const appJs = fileURLToPath(new URL('../../testkit/fixtures/app.mjs', import.meta.url));
    const cases: [string[], RegExp][] = [
      [['start', '--workers', 'lots', appJs], /^master-process: invalid option `--workers`: got "lots". Accepted: a positive integer, "MAX"/],
      [['start', '--kill-timeout', 'soon', appJs], /^master-process: invalid option `--kill-timeout`: got "soon". Accepted: a duration of at least 1 ms/],
      [['start', '--port', 'http', appJs], /^master-process: invalid option `--port`: got "http". Accepted: a TCP port from 1 to 65535, or an absolute unix socket path/],
      [['start', '--ready-on', 'soon', appJs], /^master-process: invalid option `--ready-on`: got "soon". Accepted: "listening" or "message"/],
      [['start', '--workers'], /^master-process: option --workers needs a value: --workers <n\|max\|auto>/],
      [['start', '--name', 'a/b', appJs], /^master-process: invalid option `--name`: got "a\/b". Accepted: 1 to 64 letters/],
      [['start', 'no-such-app.js'], /^master-process: cannot start no-such-app.js: no such file/],
      [['start'], /^master-process: start needs the app to run/],
      [['reload', '--timeout', 'later'], /^master-process: invalid option `--timeout`: got "later". Accepted: a duration of at least 1 ms/],
      [['status', '--verbose'], /^master-process: unknown option --verbose for `master-process status`. Accepted: --json, --socket, --name, --help/],
      [['stop', 'now'], /^master-process: `master-process stop` takes no argument "now"/],
      [['restart'], /^master-process: unknown command "restart". Accepted: start, reload, status, stop/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args, { cwd: app.dir })));
    results.forEach((r, i) => {
      assert.equal(r.code, 2, `${cases[i]![0].join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.match(r.stderr, cases[i]![1]);
    });
    writeFileSync(join(app.dir, 'master-process.config.json'), JSON.stringify({ wrokers: 2 }));
    const config = await cli(['start', appJs], { cwd: app.dir });
    assert.equal(config.code, 2);
    assert.match(config.stderr, /master-process\.config\.json: unknown option `wrokers`. Accepted: exec, args/);
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Exit codes:\n  0  reload: the new generation serves/);
  });

  it('a good deploy: reload exits 0 with not one failed request; a SIGHUP and a CLI reload are recorded alike; another user is refused (exit 4)', async () => {
    const { app, master } = await setUp();
    await serving(app, master, 2);
    const traffic = load(app);
    await sleep(300);
    app.deploy({ requestDelay: 1 }); // new code
    const first = await cli(['reload'], { cwd: app.dir });
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.match(first.stdout, /^reload ok: generation 1 serves \(2 workers: \d+, \d+\); the old workers drained and exited, in [\d.]+ m?s\n$/);
    for (const step of [/reload: generation 1 started \(control\)/, /spawning: slots 0, 1/, /worker \d+ \(slot 0, generation 1\) forked/, /waiting ready/, /worker \d+ \(slot 1, generation 1\) ready/, /retiring old/, /worker \d+ \(slot 0, generation 0\) draining/, /worker \d+ \(slot 1, generation 0\) exited \(code 0\)/]) {
      assert.match(first.stderr, step);
    }
    const second = await cli(['reload', '--json'], { cwd: app.dir });
    assert.equal(second.code, 0);
    assert.equal(second.json.outcome, 'ok');
    assert.equal(second.json.exitCode, 0);
    assert.equal(second.json.generation, 2);
    assert.deepEqual(second.json.workers.map((w: any) => [w.slot, w.generation, w.state]), [[0, 2, 'ready'], [1, 2, 'ready']]);
    noFailures(await traffic.stop());
    assert.equal((await get(app.port)).gen, 2);

    let status = (await cli(['status', '--json'], { cwd: app.dir })).json;
    assert.deepEqual([status.lastReload.generation, status.lastReload.trigger, status.lastReload.outcome], [2, 'control', 'ok']);
    master.signal('SIGHUP');
    status = await waitUntil(async () => {
      const s = (await cli(['status', '--json'], { cwd: app.dir })).json;
      return s?.lastReload?.generation === 3 && s;
    }, 30_000, 'the SIGHUP reload in the status');
    assert.deepEqual([status.lastReload.trigger, status.lastReload.outcome], ['SIGHUP', 'ok']);
    const human = await cli(['status'], { cwd: app.dir });
    assert.match(human.stdout, new RegExp(`^master ${master.pid} \\(mp-cli-\\S+\\) running, up `));
    assert.match(human.stdout, /serving generation 3 with 2 of 2 workers/);
    assert.match(human.stdout, /SLOT +PID +GEN +STATE +UP +RESTARTS/);
    assert.match(human.stdout, /last reload: generation 3 ok \(SIGHUP\) at \d{4}-\d\d-\d\dT[\d:]+Z, took /);

    const denied = await cli(['status', '--socket', status.master.socket], { as: { uid: 'nobody', gid: 'nogroup' } });
    assert.equal(denied.code, 4, denied.stderr);
    assert.match(denied.stderr, /permission denied on .*: the control socket is only for the master's user/);
  });

  it('new code that throws at boot: exit 1 within seconds, naming the worker, its exit code and stderr; the old generation keeps serving with 0 failed requests', async () => {
    const { app, master } = await setUp();
    const before = await serving(app, master, 2);
    const traffic = load(app);
    await sleep(300);
    app.deploy({ boot: 'throw' });
    const failed = await cli(['reload', '--json'], { cwd: app.dir });
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.ok(failed.ms < 20_000, `reported in ${failed.ms} ms`);
    const r = failed.json;
    assert.equal(r.outcome, 'failed');
    assert.equal(r.error.code, 'MP_ERR_RELOAD_FAILED');
    assert.equal(r.failure.worker.generation, 1);
    assert.deepEqual(r.failure.exit, { code: 1, signal: null });
    assert.ok(r.failure.stderr.some((l: string) => l.includes('Error: fixture app: boot failure (APP_BOOT=throw)')), JSON.stringify(r.failure.stderr));
    assert.match(r.error.message, new RegExp(`worker ${r.failure.worker.pid} \\(slot \\d, generation 1\\) exited before it was ready`));
    assert.deepEqual(r.serving.workers.map((w: any) => w.pid).sort(), before.workers.map((w: any) => w.pid).sort(), 'the old generation serves at full strength');
    assert.match(failed.stderr, new RegExp(`worker ${r.failure.worker.pid} \\(slot \\d, generation 1\\) FAILED: exited with code 1`));

    const human = await cli(['reload'], { cwd: app.dir });
    assert.equal(human.code, 1);
    assert.match(human.stdout, /^reload failed: generation 2 did not take over; generation 0 keeps serving \(2 workers: \d+, \d+\)\n/);
    assert.match(human.stdout, /failed worker: worker \d+ \(slot \d, generation 2\), exited with code 1\n  last lines of its stderr:\n(  \| .*\n)*  \| Error: fixture app: boot failure/);
    noFailures(await traffic.stop());
    assert.equal((await get(app.port)).gen, 0);
    const status = (await cli(['status', '--json'], { cwd: app.dir })).json;
    assert.deepEqual([status.lastReload.outcome, status.lastReload.failure.exit.code], ['failed', 1]);
    assert.equal(master.child.exitCode, null, 'the master runs on');
  });

  it('new code that never becomes ready: --timeout exits 6 saying where the reload was; it fails per --ready-timeout; status shows how it ended', async () => {
    const { app, master } = await setUp(['--workers', '1', '--ready-timeout', '4s']);
    await serving(app, master, 1);
    app.deploy({ boot: 'never-listen' });
    const impatient = await cli(['reload', '--timeout', '1s', '--json'], { cwd: app.dir });
    assert.equal(impatient.code, 6, impatient.stdout + impatient.stderr);
    assert.equal(impatient.json.outcome, 'timeout');
    assert.equal(impatient.json.last.phase, 'waiting-ready');
    assert.match(impatient.json.message, /no outcome within 1\.0 s \(--timeout\). The reload goes on in master \d+; it was at: generation 1, waiting-ready \(slots 0\). `master-process status` shows how it ends/);
    const ended = await waitUntil(async () => {
      const s = (await cli(['status', '--json'], { cwd: app.dir })).json;
      return s?.lastReload && s;
    }, 30_000, 'the reload to end');
    assert.equal(ended.lastReload.outcome, 'failed');
    assert.match(ended.lastReload.error.message, /was not ready within 4000 ms \(option readyTimeout\)/);
    const waited = await cli(['reload', '--json'], { cwd: app.dir });
    assert.equal(waited.code, 1);
    assert.ok(waited.ms >= 3500 && waited.ms < 30_000, `failed after the ready timeout (${waited.ms} ms)`);
    assert.equal(waited.json.failure.exit, null, 'not ready in time: retired, had not exited');
    assert.equal((await get(app.port)).gen, 0);
  });

  it('status during a reload shows its phase without disturbing it; two concurrent reloads: the second joins the follow-up and reports its outcome', async () => {
    const { app, master } = await setUp();
    await serving(app, master, 2);
    const traffic = load(app);
    app.deploy({ bootDelay: 6000 });
    const first = runCli(['reload', '--json'], { cwd: app.dir });
    await waitUntil(() => first.stderr().includes('reload: generation 1 started'), 30_000, 'the first reload to start');
    const second = runCli(['reload', '--json'], { cwd: app.dir });
    await waitUntil(() => second.stderr().includes('is in progress: this request joins the reload that follows it'), 30_000, 'the second reload to join');
    app.deploy({}); // the follow-up boots at once
    const during = await waitUntil(async () => {
      const s = (await cli(['status', '--json'], { cwd: app.dir })).json;
      return s?.reload?.phase === 'waiting-ready' && s;
    }, 30_000, 'status to show the reload waiting for ready');
    assert.deepEqual([during.reload.generation, during.reload.trigger, during.reload.slots], [1, 'control', [0, 1]]);
    const human = await cli(['status'], { cwd: app.dir });
    assert.match(human.stdout, /reload in progress: generation [12] \(control\), \S+ \(slots 0, 1\), for /);
    for (let i = 0; i < 3; i++) assert.equal((await cli(['status', '--json'], { cwd: app.dir })).code, 0); // status while reloads wait
    const [a, b] = await Promise.all([first.done, second.done]);
    assert.equal(a.code, 0, a.stdout + a.stderr);
    assert.equal(b.code, 0, b.stdout + b.stderr);
    assert.deepEqual([a.json.generation, a.json.joined], [1, false]);
    assert.deepEqual([b.json.generation, b.json.joined], [2, true], 'the second reports the follow-up, not the reload it found running');
    assert.match(b.stderr, /a reload \(generation 1, control\) is in progress: this request joins the reload that follows it/);
    noFailures(await traffic.stop());
    assert.equal((await get(app.port)).gen, 2);
  });

  it('connection lost mid-reload: exit 8; a SIGKILLed master leaves a stale socket: exit 3; a new master takes the place; stop waits until it has exited', async () => {
    const { app, master } = await setUp(['--workers', '1']);
    const status = await serving(app, master, 1);
    app.deploy({ bootDelay: 20_000 });
    const reload = runCli(['reload'], { cwd: app.dir });
    await waitUntil(async () => (await cli(['status', '--json'], { cwd: app.dir })).json?.reload?.phase === 'waiting-ready', 30_000, 'the reload to wait');
    master.signal('SIGKILL');
    const lost = await reload.done;
    assert.equal(lost.code, 8, lost.stdout + lost.stderr);
    assert.match(lost.stdout, /the connection to master \d+ was lost before the reload's outcome.*The outcome is unknown: `master-process status`/);

    const stale = await cli(['reload'], { cwd: app.dir });
    assert.equal(stale.code, 3);
    assert.match(stale.stderr, /no master is running:\n  .*\.sock is a stale socket: nothing answers on it \(its master was killed\?\)\n.*start the master again: it removes the stale socket/);
    assert.equal((await cli(['status', '--json'], { cwd: app.dir })).json.outcome, 'no-master');
    await waitUntil(() => !isAlive(master.pid), 10_000, 'the killed master to be gone');

    app.deploy({});
    const next = startCli(app, ['--workers', '1']);
    cleanups.push(() => next.cleanup());
    const again = await serving(app, next, 1);
    assert.equal(again.master.socket, status.master.socket, 'the new master took the stale socket\'s place');
    const stopped = await cli(['stop', '--json'], { cwd: app.dir });
    assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr);
    assert.deepEqual([stopped.json.outcome, stopped.json.code], ['stopped', 0]);
    assert.equal(isAlive(next.pid), false, 'stop returned after the master exited');
    assert.deepEqual(await next.exited, { code: 0, signal: null });
    assert.equal(existsSync(again.master.socket), false);
    assert.equal((await cli(['stop'], { cwd: app.dir })).code, 3, 'nothing left to stop');
  });

  it('a config file picks plugins and options (flags win); --name finds the master from anywhere through XDG_RUNTIME_DIR', async () => {
    const app = await appDir();
    cleanups.push(() => app.remove());
    const runtime = join(app.dir, 'runtime');
    mkdirSync(runtime, { mode: 0o700 });
    const umbrella = new URL('../dist/index.js', import.meta.url).href;
    writeFileSync(join(app.dir, 'master-process.config.mjs'), `import { monitor } from ${JSON.stringify(umbrella)};
export default { workers: 3, reload: { probation: '300ms' }, plugins: [monitor({ grace: 0, interval: 300 })] };\n`);
    const env = { XDG_RUNTIME_DIR: runtime };
    const master = startCli(app, ['--workers', '2', '--name', 'shop'], env);
    cleanups.push(() => master.cleanup());
    const elsewhere = { cwd: '/', env };
    await serving(app, master, 2, elsewhere.cwd ? { ...elsewhere, env: { ...env, MASTER_PROCESS_NAME: 'shop' } } : elsewhere);
    const measured = await waitUntil(async () => {
      const s = (await cli(['status', '--json', '--name', 'shop'], elsewhere)).json;
      return s?.workers?.every((w: any) => typeof w.memoryMB === 'number') && s;
    }, 30_000, 'memory figures from the monitor of the config file');
    assert.equal(measured.master.name, 'shop');
    assert.equal(measured.master.socket, join(runtime, 'master-process', 'shop.sock'));
    assert.equal(measured.workers.length, 2, '--workers 2 wins over the config file\'s 3');
    assert.equal(measured.monitor, true);
    const human = await cli(['status', '--name', 'shop'], elsewhere);
    assert.match(human.stdout, /SLOT +PID +GEN +STATE +UP +RESTARTS +MEMORY +CPU\n0 +\d+ +0 +ready +(?:\d+(?:\.\d+)? (?:ms|s|min|h|d) +)+0 +[\d.]+ MB +[\d.]+ %/);
    const reloaded = await cli(['reload', '--json', '--name', 'shop'], elsewhere);
    assert.equal(reloaded.code, 0);
    const none = await cli(['status', '--name', 'other'], elsewhere);
    assert.equal(none.code, 3);
    assert.match(none.stderr, /no master is running here. Tried:\n  no socket at .*runtime\/master-process\/other\.sock\n  no socket at \/\.master-process\/other\.sock\n/);
  });
});
