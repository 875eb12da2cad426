// Real masters with the control plugin, real workers, real requests on the unix control socket.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { tempDir } from '@master-process/testkit';
import { connectControl, ControlErrorCode } from '../src/index.js';
import { connectAs, RawClient, startControlMaster, type ControlMaster } from './helpers.js';

const NOBODY = { uid: 'nobody', gid: 'nogroup' };
const modeOf = (path: string) => (lstatSync(path).mode & 0o777).toString(8);

function get(port: number, path = '/'): Promise<any> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c)).on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });
}

describe('the control socket of a real master', () => {
  let dir: ReturnType<typeof tempDir>;
  let n = 0;
  const handles: ControlMaster[] = [];
  const clients: RawClient[] = [];
  const folder = () => join(dir.path, `ctl-${++n}`);
  const start = async (...args: Parameters<typeof startControlMaster>) => {
    const h = await startControlMaster(...args);
    handles.push(h);
    return h;
  };
  const connect = async (path: string) => {
    const c = await RawClient.connect(path);
    clients.push(c);
    await c.next((m) => m.type === 'hello');
    return c;
  };

  before(() => {
    dir = tempDir('mp-ctl-');
    chmodSync(dir.path, 0o755); // so that only our folders and sockets keep another user out
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(handles.splice(0).map((h) => h.cleanup()));
  });
  after(() => dir.remove());

  it('answers status and stop on a 0600 socket in a 0700 folder; workers never learn its path; the socket is gone after stop', async () => {
    const path = join(folder(), 'app.sock');
    const h = await start({ name: 'api', maxClients: 2 }, { env: { MASTER_PROCESS_SOCKET: path } });
    await h.started();
    assert.equal(modeOf(path), '600');
    assert.equal(modeOf(join(path, '..')), '700');
    const env = (await get(h.port, '/env?names=MASTER_PROCESS_SOCKET,MASTER_PROCESS_SOCKET_DIR')).env;
    assert.equal(env.MASTER_PROCESS_SOCKET, undefined, 'the worker does not see the socket path');

    const a = await connect(path);
    assert.deepEqual(a.messages[0], { type: 'hello', server: '@master-process/plugin-control', protocol: 1, pid: h.pid, name: 'api' });
    const status = (await a.request({ id: 'st', cmd: 'status' })).result;
    assert.equal(status.master.pid, h.pid);
    assert.equal(status.master.state, 'running');
    assert.equal(status.master.socket, path);
    assert.equal(status.generation, 0);
    assert.deepEqual(status.workers.map((w: any) => [w.slot, w.generation, w.state, w.restarts]), [[0, 0, 'ready', 0]]);
    assert.equal(status.reload, null);
    assert.equal(status.lastReload, null);
    assert.ok(!JSON.stringify(status).includes(String(h.port)), 'no environment variable value (PORT) in the status');

    // maxClients 2: a third client is told so, instead of a hello.
    await connect(path);
    const third = await RawClient.connect(path);
    clients.push(third);
    const busy = await third.next(() => true);
    assert.equal(busy.error.code, ControlErrorCode.BUSY);

    const stopped = await a.request({ id: 9, cmd: 'stop' });
    assert.deepEqual(stopped.result, { code: 0, reason: 'stop requested on the control socket' });
    assert.ok(a.messages.some((m) => m.event === 'master:stopping'));
    assert.deepEqual(await h.exited, { code: 0, signal: null });
    assert.equal(existsSync(path), false, 'the socket is removed at exit');
  });

  it('garbage, unknown commands and a 10 MB line get error replies and harm neither the master nor a reload in progress; a client that hangs up aborts nothing', async () => {
    const config = join(dir.path, `app-${n}.json`);
    writeFileSync(config, JSON.stringify({ bootDelay: 1500 }));
    const ctl = folder();
    const h = await start({ dir: ctl, name: 'g' }, { options: { workers: 2 }, env: { APP_CONFIG_FILE: config } });
    await h.started();
    const path = join(ctl, 'g.sock');

    // A client asks for a reload and hangs up at once: the reload runs to its end all the same.
    const quitter = await connect(path);
    quitter.send({ id: 1, cmd: 'reload' });
    await h.waitFor('reload:start');
    quitter.close();

    // During it: a second reload request joins the follow-up and reports *its* outcome.
    const waiter = await connect(path);
    const reloaded = waiter.request({ id: 'r', cmd: 'reload' }, 60_000);
    await waiter.next((m) => m.event === 'reload:queued');

    const rude = await connect(path);
    const replies: [string | Buffer, string][] = [
      ['this is not json\n', ControlErrorCode.BAD_REQUEST],
      ['[1,2]\n', ControlErrorCode.BAD_REQUEST],
      ['{"id":{"x":1},"cmd":"status"}\n', ControlErrorCode.BAD_REQUEST],
      ['{"id":7,"cmd":"self-destruct"}\n', ControlErrorCode.UNKNOWN_COMMAND],
      ['{"id":8}\n', ControlErrorCode.UNKNOWN_COMMAND],
      [Buffer.from([0xff, 0xfe, 0x00, 0x0a]), ControlErrorCode.BAD_REQUEST],
    ];
    for (const [line, code] of replies) {
      const since = rude.messages.length;
      rude.write(line);
      const reply = await rude.next((m) => m.type === 'error', { since });
      assert.equal(reply.error.code, code, `reply to ${JSON.stringify(String(line))}`);
    }
    assert.match(rude.messages.find((m) => m.error?.code === ControlErrorCode.UNKNOWN_COMMAND).error.message, /unknown command "self-destruct". Accepted: status, reload, stop/);
    assert.equal((await rude.request({ id: 'after', cmd: 'status' })).result.master.pid, h.pid, 'the connection still works after bad lines');

    const huge = await connect(path);
    huge.write(Buffer.alloc(10 * 1024 * 1024, 'a'));
    huge.write('\n');
    const tooLong = await huge.next((m) => m.type === 'error');
    assert.equal(tooLong.error.code, ControlErrorCode.LINE_TOO_LONG);
    await huge.closed;

    const result = (await reloaded).result;
    assert.equal(result.outcome, 'ok');
    assert.equal(result.joined, true);
    assert.equal(result.generation, 2, 'the follow-up of the reload in progress');
    await h.waitFor('reload:done', (e) => e.args![0].generation === 2); // the master's own event log is another pipe
    const done = h.events.filter((e) => e.ev === 'reload:done').map((e) => [e.args![0].generation, e.args![0].trigger]);
    assert.deepEqual(done, [[1, 'control'], [2, 'control']], 'the reload of the client that hung up ran to its end');
    assert.equal(h.count('reload:failed'), 0);
    const lines = waiter.messages.filter((m) => m.id === 'r' && m.type === 'progress').map((m) => m.event);
    for (const event of ['reload:queued', 'reload:start', 'reload:phase', 'worker:fork', 'worker:ready', 'worker:retire', 'worker:exit']) assert.ok(lines.includes(event), `progress has ${event}`);
    assert.equal((await get(h.port)).gen, 2);
  });

  it('another user cannot connect, even through an open folder; members of a configured group can', async () => {
    const ctl = folder();
    const h = await start({ dir: ctl, name: 'p' });
    await h.started();
    const path = join(ctl, 'p.sock');
    assert.equal(await connectAs(NOBODY, path), 'EACCES', 'the 0700 folder keeps nobody out');
    chmodSync(ctl, 0o755);
    assert.equal(await connectAs(NOBODY, path), 'EACCES', 'the 0600 socket alone keeps nobody out');

    const grouped = folder();
    const g = await start({ dir: grouped, name: 'q', group: 'nogroup' });
    await g.started();
    assert.equal(modeOf(join(grouped, 'q.sock')), '660');
    assert.equal(modeOf(grouped), '710');
    assert.equal(await connectAs(NOBODY, join(grouped, 'q.sock')), 'hello', 'a member of the group (nobody, gid nogroup) may connect');
  });

  it('a stale socket of a SIGKILLed master is removed by the next one; a live master is never taken over', async () => {
    const ctl = folder();
    const path = join(ctl, 's.sock');
    const first = await start({ dir: ctl, name: 's' });
    await first.started();
    first.signal('SIGKILL');
    await first.exited;
    assert.ok(lstatSync(path).isSocket(), 'a killed master leaves its socket');
    await assert.rejects(connectControl(path), (e: any) => e.code === ControlErrorCode.STALE && /stale socket: nothing answers/.test(e.message));

    const second = await start({ dir: ctl, name: 's' });
    await second.started();
    const client = await connectControl(path);
    assert.equal(client.hello.pid, second.pid);
    client.close();

    const third = await start({ dir: ctl, name: 's' });
    await third.started();
    assert.equal((await get(third.port)).gen, 0, 'the third master serves, without a control socket');
    await third.until('its warning', () => third.stderr().includes('another process (another master?) serves the control socket'));
    const again = await connectControl(path);
    assert.equal(again.hello.pid, second.pid, 'the socket still belongs to the live master');
    again.close();
  });

  it('a socket that cannot be created never fails the start: the master serves, with one warning saying how to fix it', async () => {
    const file = join(dir.path, 'a-file');
    writeFileSync(file, '');
    const h = await start({ dir: join(file, 'sub') });
    const started = await h.started();
    assert.equal(started.workers.length, 1);
    assert.equal(typeof (await get(h.port)).pid, 'number');
    const warnings = h.stderr().split('\n').filter((l) => l.includes('@master-process/plugin-control'));
    assert.equal(warnings.length, 1, h.stderr());
    assert.match(warnings[0]!, /^master-process: @master-process\/plugin-control: no control socket \(.*a-file\/sub: ENOTDIR\); the master serves as usual.*MASTER_PROCESS_SOCKET_DIR=/);
  });
});
