// The unit files of plugin-systemd's README, run for real: a private systemd user manager (PID 1 here is not
// systemd) in its own mount namespace, driven with systemctl --user. The units are read from the README;
// only what a user manager or a test needs is changed (paths, ports, WatchdogSec, `systemctl --user`).
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, isAlive, runLoad, tempDir, waitUntil } from '@master-process/testkit';

const README = join(import.meta.dirname, '..', '..', 'plugin-systemd', 'README.md');
const APP = join(import.meta.dirname, 'fixtures', 'init-app.cjs');

/** The ```ini block after `<!-- unit: NAME -->` in the README. */
function unit(name: string): string {
  const text = readFileSync(README, 'utf8');
  const at = text.indexOf(`<!-- unit: ${name} -->`);
  assert.ok(at >= 0, `the README has a unit "${name}"`);
  const block = /```ini\n([\s\S]*?)```/.exec(text.slice(at));
  return block![1]!.split('\n').filter((l) => !l.startsWith('# /etc/')).join('\n');
}

function systemdVersion(): number {
  const out = spawnSync('/lib/systemd/systemd', ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return Number(/systemd (\d+)/.exec(out)?.[1] ?? 0);
}

function unavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root for unshare -m (a private mount namespace)';
  if (!existsSync('/lib/systemd/systemd')) return 'no /lib/systemd/systemd';
  if (spawnSync('systemctl', ['--version']).error) return 'no systemctl';
  const probe = spawnSync('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs tmpfs /run/systemd 2>/dev/null || mount -t tmpfs tmpfs /mnt']);
  if (probe.error || probe.status !== 0) return `unshare -m with a tmpfs mount is not permitted here (${probe.error?.message ?? probe.stderr.toString().trim()})`;
  return undefined;
}

const skip = unavailable();
if (skip) process.stdout.write(`# skipping the real systemd unit tests: ${skip}\n`);

describe(`the README's unit files under a real systemd ${systemdVersion() || ''} user manager`, { skip }, () => {
  let dir: ReturnType<typeof tempDir>;
  let xdg: string;
  let manager: ChildProcess;
  const env = () => ({ ...process.env, XDG_RUNTIME_DIR: xdg });
  const ctl = (...args: string[]) => spawnSync('systemctl', ['--user', ...args], { env: env(), encoding: 'utf8', timeout: 120_000 });
  // Under load: a spawnSync would block the load client's loop too (its requests would not be written meanwhile).
  const ctlAsync = (...args: string[]) => new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile('systemctl', ['--user', ...args], { env: env(), encoding: 'utf8', timeout: 120_000 }, (error, stdout, stderr) => resolve({ status: error ? Number(error.code) || 1 : 0, stdout, stderr }));
  });
  const show = (unitName: string, property: string) => ctl('show', '-P', property, unitName).stdout.trim();
  const showAsync = async (unitName: string, property: string) => (await ctlAsync('show', '-P', property, unitName)).stdout.trim();
  const install = (name: string, text: string) => {
    writeFileSync(join(xdg, 'systemd', 'user', name), text);
    assert.equal(ctl('daemon-reload').status, 0);
  };

  before(async () => {
    dir = tempDir('mp-systemd-');
    xdg = join(dir.path, 'xdg');
    mkdirSync(join(xdg, 'systemd', 'user'), { recursive: true });
    chmodSync(xdg, 0o700);
    manager = spawn('unshare', ['-m', 'sh', '-c', 'mount -t tmpfs tmpfs /run/systemd && mkdir -p /run/systemd/system && exec /lib/systemd/systemd --user'], { env: env(), stdio: 'ignore' });
    // is-system-running says "offline" from outside the namespace (no /run/systemd/system there): ask the manager.
    await waitUntil(() => ['running', 'degraded'].includes(ctl('show', '-P', 'SystemState').stdout.trim()), 30_000, 'the user manager to run');
  });

  after(async () => {
    ctl('stop', 'app.socket', 'app.service');
    ctl('exit');
    const pid = manager.pid!;
    await waitUntil(() => !isAlive(pid), 20_000, 'the user manager to exit').catch(() => manager.kill('SIGKILL'));
    dir.remove();
  });

  const getUnix = (socketPath: string) => new Promise<any>((resolve, reject) => {
    http.get({ socketPath, path: '/', agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c)).on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });

  it('systemd 252, Type=notify: start waits for READY=1, the watchdog is fed, reload waits for the outcome (and fails with it), stop drains', async () => {
    const config = join(dir.path, 'app.json');
    writeFileSync(config, '{}');
    install('app.service', unit('app.service, systemd 252')
      .replace('/usr/bin/node /srv/app/server.js', `${process.execPath} ${APP}`)
      .replaceAll('systemctl show', 'systemctl --user show')
      .replace('WatchdogSec=30', 'WatchdogSec=2')
      .replace('WORKERS=MAX', `WORKERS=2 APP_CONFIG_FILE=${config}`));
    const started = ctl('start', 'app.service');
    assert.equal(started.status, 0, started.stderr);
    const mainPid = Number(show('app.service', 'MainPID'));
    assert.ok(isAlive(mainPid));
    assert.equal(show('app.service', 'StatusText'), 'generation 0: 2 of 2 worker(s) serving');
    const socket = join(xdg, 'app', 'app.sock');
    assert.equal((await getUnix(socket)).gen, 0);

    // WATCHDOG=1 every second: systemd records each (with WatchdogSec=2 and no ping it would kill the master).
    const pinged = show('app.service', 'WatchdogTimestampMonotonic');
    await waitUntil(() => show('app.service', 'WatchdogTimestampMonotonic') !== pinged, 20_000, 'a watchdog ping');

    const reload = ctl('reload', 'app.service');
    assert.equal(reload.status, 0, reload.stderr);
    assert.match(show('app.service', 'StatusText'), /^reload to generation 1 done in \d+ ms; generation 1: 2 of 2 worker\(s\) serving$/, 'systemctl reload returned after the reload');
    assert.equal((await getUnix(socket)).gen, 1);

    writeFileSync(config, JSON.stringify({ boot: 'throw' }));
    const failed = ctl('reload', 'app.service');
    assert.notEqual(failed.status, 0, 'a failed reload fails systemctl reload');
    assert.match(show('app.service', 'StatusText'), /^reload to generation 2 failed, rolled back: /);
    assert.equal(show('app.service', 'ActiveState'), 'active');
    assert.equal(Number(show('app.service', 'MainPID')), mainPid);
    assert.equal((await getUnix(socket)).gen, 1, 'the old generation serves on');

    assert.equal(ctl('stop', 'app.service').status, 0);
    assert.equal(show('app.service', 'ActiveState'), 'inactive');
    assert.equal(show('app.service', 'Result'), 'success', 'the master drained and exited 0 within TimeoutStopSec');
    assert.equal(isAlive(mainPid), false);
  });

  it('app.socket + app.service: 5 restarts (systemctl restart, kill -9 of the master) under load with 300 ms requests in flight: 0 refused, 0 failed', async () => {
    const port = await freePort();
    install('app.socket', unit('app.socket').replace('ListenStream=8080', `ListenStream=127.0.0.1:${port}`));
    install('app.service', unit('app.service, with app.socket')
      .replace('/usr/bin/node /srv/app/server.js', `${process.execPath} ${APP}`)
      .replace('WORKERS=MAX', 'WORKERS=2 APP_REQUEST_DELAY=5')
      // Test only: 5 restarts in a row on a quick machine are within systemd's default start limit (5 starts
      // in 10 s), which would refuse the fifth with start-limit-hit.
      .replace('[Unit]', '[Unit]\nStartLimitIntervalSec=0'));
    assert.equal(ctl('start', 'app.socket').status, 0);
    const loads = [
      runLoad({ target: { port }, connections: 8, keepAlive: false, durationMs: 110_000, keepFailures: 1000 }),
      // Some requests are in flight at every restart: the kill -9 leaves them to the orphaned workers.
      runLoad({ target: { port, path: '/slow?ms=300' }, connections: 4, keepAlive: true, durationMs: 110_000, keepFailures: 1000 }),
    ];
    const stopLoads = async () => {
      for (const load of loads) load.stop();
      return Promise.all(loads.map((load) => load.done));
    };
    try {
      const serving = async (notPid: number) => {
        let pid = 0;
        await waitUntil(async () => {
          pid = Number(await showAsync('app.service', 'MainPID'));
          return pid > 0 && pid !== notPid && (await showAsync('app.service', 'ActiveState')) === 'active' && (await showAsync('app.service', 'StatusText')).startsWith('generation');
        }, 60_000, 'a new master to be ready');
        return pid;
      };
      let pid = await serving(0);
      let orphans: number[] = [];
      let killedAt = 0;
      for (const how of ['restart', 'restart', 'kill', 'restart', 'restart']) {
        if (how === 'kill') {
          orphans = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
          killedAt = Date.now();
          process.kill(pid, 'SIGKILL');
        } else {
          const restarted = await ctlAsync('restart', 'app.service');
          assert.equal(restarted.status, 0, `${restarted.stderr} ${ctl('status', 'app.service').stdout}`);
        }
        pid = await serving(pid);
      }
      assert.equal((await ctlAsync('reload', 'app.service')).status, 0);
      await waitUntil(async () => (await showAsync('app.service', 'StatusText')).startsWith('reload to generation 1 done'), 60_000, 'the rolling reload');
      const results = await stopLoads();
      const failures = results.flatMap((r) => r.firstFailures);
      process.stdout.write(`# real systemd, 5 restarts: ${results.map((r) => r.ok).join(' + ')} served, failures ${JSON.stringify(failures)}\n`);
      assert.deepEqual(failures, [], 'no request failed and no connection was refused, the kill -9 included');
      assert.ok(results.every((r) => r.ok > 0));
      // KillMode=process: systemd left the killed master's workers alone, and they answered what they had accepted.
      const answered = results.flatMap((r) => r.samples.end.filter((end, i) => end > killedAt && orphans.includes(r.samples.pid[i]!)));
      assert.ok(answered.length > 0, 'the orphaned workers answered requests after the kill -9');
      await waitUntil(() => orphans.every((p) => !isAlive(p)), 30_000, 'the orphans (and their reaper) to be gone');
    } finally {
      await stopLoads();
    }
    assert.equal(ctl('stop', 'app.service', 'app.socket').status, 0);
  });

  it('systemd >= 253, Type=notify-reload: systemctl reload waits for READY=1', { skip: systemdVersion() < 253 ? `systemd ${systemdVersion()} has no Type=notify-reload (253 and later)` : undefined }, async () => {
    install('app.service', unit('app.service, systemd >= 253').replace('/usr/bin/node /srv/app/server.js', `${process.execPath} ${APP}`).replace('WORKERS=MAX', 'WORKERS=2'));
    assert.equal(ctl('start', 'app.service').status, 0);
    assert.equal(ctl('reload', 'app.service').status, 0);
    assert.match(show('app.service', 'StatusText'), /^reload to generation 1 done/);
    assert.equal(ctl('stop', 'app.service').status, 0);
  });
});
