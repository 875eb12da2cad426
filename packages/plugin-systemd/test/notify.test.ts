// sd_notify against a receiver the test binds (python3, a unix datagram socket), with a real master.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { freePort, tempDir, type MasterHandle } from '@master-process/testkit';
import { fieldsOf, get, NotifyReceiver, startSystemdMaster, type Datagram } from './helpers.js';

const root = process.getuid?.() === 0;

describe('sd_notify', () => {
  let dir: ReturnType<typeof tempDir>;
  let n = 0;
  let receiver: NotifyReceiver | undefined;
  let master: MasterHandle | undefined;
  const listen = async (address = join(dir.path, `notify-${++n}.sock`)) => (receiver = await NotifyReceiver.start(address));

  before(() => {
    dir = tempDir('mp-sd-');
  });
  afterEach(async () => {
    await master?.cleanup();
    master = undefined;
    await receiver?.close();
    receiver = undefined;
  });
  after(() => dir.remove());

  it('sends the exact sequence for start, a good reload, a failed reload and stop, from the master pid', async () => {
    const r = await listen();
    const port = await freePort();
    const config = join(dir.path, 'app.json');
    writeFileSync(config, '{}');
    master = startSystemdMaster({
      options: { workers: 2, killTimeout: 2000, hookTimeout: 3000 },
      env: { NOTIFY_SOCKET: r.address, WATCHDOG_USEC: '60000000', SHUTDOWN_DELAY: '300ms', PORT: String(port), APP_CONFIG_FILE: config },
    });
    await master.started();
    let got = await r.until('READY=1 after the start', (m) => m.length >= 2);
    assert.deepEqual(got.map((m) => m.fields), [
      ['STATUS=starting 2 worker(s)'],
      ['READY=1', 'STATUS=generation 0: 2 of 2 worker(s) serving'],
    ]);
    assert.ok(got.every((m) => m.pid === master!.pid), `every message comes from the master (${master.pid}): ${got.map((m) => m.pid)}`);
    // Workers never see the service manager's variables (the app would notify as if it were the service).
    const { env } = await get(port, '/env?names=NOTIFY_SOCKET,WATCHDOG_USEC,WATCHDOG_PID,SHUTDOWN_DELAY');
    assert.deepEqual(env, { WORKER_INDEX: env.WORKER_INDEX, RELOAD_INDEX: '0', PPID: String(master.pid), SHUTDOWN_DELAY: '300ms' }, 'only the systemd variables are gone');

    await master.command('reload');
    got = await r.until('READY=1 after the reload', (m) => m.length >= 4);
    const reloading = fieldsOf(got[2]!);
    assert.deepEqual(Object.keys(reloading), ['RELOADING', 'MONOTONIC_USEC', 'STATUS']);
    assert.equal(reloading.RELOADING, '1');
    assert.equal(reloading.STATUS, 'reloading: starting generation 1; generation 0: 2 of 2 worker(s) serving');
    // CLOCK_MONOTONIC in µs: at most the receiver's own reading at arrival, and not long before it.
    const usec = Number(reloading.MONOTONIC_USEC);
    assert.ok(usec <= got[2]!.mono && usec > got[2]!.mono - 30_000_000, `MONOTONIC_USEC=${usec}, receiver's CLOCK_MONOTONIC ${got[2]!.mono}`);
    assert.equal(got[3]!.fields[0], 'READY=1');
    assert.match(got[3]!.fields[1]!, /^STATUS=reload to generation 1 done in \d+ ms; generation 1: 2 of 2 worker\(s\) serving$/);

    writeFileSync(config, JSON.stringify({ boot: 'throw' }));
    await assert.rejects(master.command('reload'), /reload 2 failed/);
    got = await r.until('READY=1 after the failed reload', (m) => m.length >= 6);
    assert.equal(fieldsOf(got[4]!).RELOADING, '1');
    assert.equal(got[5]!.fields[0], 'READY=1', 'READY=1 again once the old generation serves on');
    assert.match(got[5]!.fields[1]!, /^STATUS=reload to generation 2 failed, rolled back: reload 2 failed: worker \d+ .*; generation 1: 2 of 2 worker\(s\) serving$/);

    master.signal('SIGTERM');
    assert.equal((await master.exited).code, 0);
    got = await r.until('STOPPING=1', (m) => m.length >= 7);
    assert.deepEqual(got[6]!.fields, [
      'STOPPING=1',
      'STATUS=stopping (SIGTERM): serving 300 ms more, then draining 2 worker(s)',
      // shutdownDelay + killTimeout + hookTimeout + 5 s of margin, in µs
      `EXTEND_TIMEOUT_USEC=${(300 + 2000 + 3000 + 5000) * 1000}`,
    ]);
    assert.equal(r.notifications.length, 7, 'nothing after STOPPING=1 (the watchdog interval is 30 s)');
    assert.ok(r.notifications.every((m) => m.pid === master!.pid));
  });

  it('pings WATCHDOG=1 every WATCHDOG_USEC/2 while workers serve; none for another WATCHDOG_PID', async () => {
    const r = await listen();
    master = startSystemdMaster({ options: { workers: 1 }, env: { NOTIFY_SOCKET: r.address, WATCHDOG_USEC: '300000', PORT: String(await freePort()) } });
    await master.started();
    const pings = (m: Datagram[]) => m.filter((d) => d.fields.length === 1 && d.fields[0] === 'WATCHDOG=1');
    const got = await r.until('5 watchdog pings', (m) => pings(m).length >= 5);
    assert.ok(pings(got).every((d) => d.pid === master!.pid));
    await master.cleanup();

    const r2 = await NotifyReceiver.start(join(dir.path, `notify-${++n}.sock`));
    const other = startSystemdMaster({ options: { workers: 1 }, env: { NOTIFY_SOCKET: r2.address, WATCHDOG_USEC: '100000', WATCHDOG_PID: '1', PORT: String(await freePort()) } });
    try {
      await other.started();
      await r2.until('READY=1', (m) => m.some((d) => d.fields[0] === 'READY=1'));
      other.signal('SIGTERM');
      await other.exited;
      assert.equal(pings(r2.notifications).length, 0, 'WATCHDOG_PID names another process: the pings are not ours');
    } finally {
      await other.cleanup();
      await r2.close();
    }
  });

  it('sends no WATCHDOG=1 while no worker serves, so systemd restarts a master that serves nothing', async () => {
    const r = await listen();
    master = startSystemdMaster({ options: { workers: 1, readyTimeout: 60_000 }, env: { NOTIFY_SOCKET: r.address, WATCHDOG_USEC: '100000', APP_BOOT: 'never-listen' } });
    await master.until('the worker to boot', () => master!.appLines.some((l) => l.app === 'never-listen'));
    // 30 intervals of 50 ms in which a ping would have been due.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(r.notifications.map((m) => m.fields), [['STATUS=starting 1 worker(s)']]);
  });

  it('a worker crash and its replacement are told in STATUS lines', async () => {
    const r = await listen();
    const port = await freePort();
    master = startSystemdMaster({ options: { workers: 2 }, env: { NOTIFY_SOCKET: r.address, PORT: String(port) } });
    await master.started();
    await get(port, '/crash').catch(() => {});
    const got = await r.until('the crash and the recovery', (m) => m.length >= 4);
    assert.match(got[2]!.fields[0]!, /^STATUS=worker \d+ \(slot [01]\) exited unexpectedly \(code 1\); generation 0: 1 of 2 worker\(s\) serving$/);
    assert.deepEqual(got[3]!.fields, ['STATUS=generation 0: 2 of 2 worker(s) serving']);
  });

  it('an abstract NOTIFY_SOCKET (@name) is reached through systemd-notify', async () => {
    const r = await listen(`@mp-test-${process.pid}-${++n}`);
    master = startSystemdMaster({ options: { workers: 1 }, env: { NOTIFY_SOCKET: r.address, PORT: String(await freePort()), DEBUG: 'master-process:systemd' } });
    await master.started();
    const got = await r.until('READY=1', (m) => m.some((d) => d.fields[0] === 'READY=1'));
    assert.deepEqual(got.map((m) => m.fields), [['STATUS=starting 1 worker(s)'], ['READY=1', 'STATUS=generation 0: 1 of 1 worker(s) serving']]);
    assert.ok(master.output.some((l) => l.includes('with the command sender')), master.tail());
    // As root, systemd-notify sends with its parent's credentials: systemd sees the master (NotifyAccess=main).
    if (root) assert.ok(got.every((m) => m.pid === master!.pid));
    master.signal('SIGTERM');
    await master.exited;
    await r.until('STOPPING=1', (m) => m.some((d) => d.fields[0] === 'STOPPING=1'));
  });

  it('refuses to start, saying what to install, when nothing can send to NOTIFY_SOCKET', async () => {
    master = startSystemdMaster({ plugin: { sender: 'command' }, env: { NOTIFY_SOCKET: '/run/none/notify', PATH: '/nonexistent' } });
    assert.equal((await master.exited).code, 1);
    const text = master.output.join('\n');
    assert.match(text, /NOTIFY_SOCKET=\/run\/none\/notify is set but there is no way to notify systemd: systemd-notify is not on PATH/);
    assert.match(text, /install node-unix-socket/);
    assert.equal(master.count('worker:fork'), 0);
    await master.cleanup();

    master = startSystemdMaster({ plugin: { sender: 'native' }, env: { NOTIFY_SOCKET: '@abstract' } });
    assert.equal((await master.exited).code, 1);
    assert.match(master.output.join('\n'), /node-unix-socket cannot send to an abstract socket \(@abstract\).*Use sender "auto" or "command"/);
  });

  it('a notify socket that is gone is said once on stderr; the master serves on', async () => {
    const port = await freePort();
    master = startSystemdMaster({ options: { workers: 1 }, env: { NOTIFY_SOCKET: join(dir.path, 'nobody-here.sock'), PORT: String(port) } });
    await master.started();
    await master.command('reload');
    assert.equal((await get(port)).gen, 1);
    const warnings = master.output.filter((l) => l.includes('could not notify systemd'));
    assert.equal(warnings.length, 1, master.tail());
    assert.match(warnings[0]!, /nobody-here\.sock \(native sender\)/);
  });

  it('refuses a malformed NOTIFY_SOCKET or WATCHDOG_USEC, naming it', async () => {
    master = startSystemdMaster({ env: { NOTIFY_SOCKET: 'relative/notify' } });
    assert.notEqual((await master.exited).code, 0);
    assert.match(master.output.join('\n'), /invalid environment variable NOTIFY_SOCKET: got "relative\/notify". Accepted: an absolute socket path, "@name"/);
    await master.cleanup();
    master = startSystemdMaster({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30s' } });
    assert.notEqual((await master.exited).code, 0);
    assert.match(master.output.join('\n'), /invalid environment variable WATCHDOG_USEC: got "30s"/);
  });
});
