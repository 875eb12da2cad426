// Pure logic: how systemd's variables and listen() arguments are read. No process is started.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { activation, notifyAddress, watchdogInterval } from '../src/environment.js';
import { procAddress } from '../src/proc-sockets.js';
import { pick, requested } from '../src/worker.js';
import type { WorkerSocket } from '../src/protocol.js';

describe('systemd environment', () => {
  it('NOTIFY_SOCKET: a path, an abstract @name, a vsock address; anything else is refused by name', () => {
    assert.deepEqual(notifyAddress({ NOTIFY_SOCKET: '/run/systemd/notify' }), { kind: 'path', address: '/run/systemd/notify' });
    assert.deepEqual(notifyAddress({ NOTIFY_SOCKET: '@/org/x/notify' }), { kind: 'abstract', address: '@/org/x/notify' });
    assert.deepEqual(notifyAddress({ NOTIFY_SOCKET: 'vsock:2:1234' }), { kind: 'vsock', address: 'vsock:2:1234' });
    assert.equal(notifyAddress({}), undefined);
    assert.throws(() => notifyAddress({ NOTIFY_SOCKET: 'notify.sock' }), { code: 'MP_ERR_INVALID_ENV', message: /NOTIFY_SOCKET: got "notify.sock"/ });
    assert.throws(() => notifyAddress({ NOTIFY_SOCKET: '@' }), { code: 'MP_ERR_INVALID_ENV' });
  });

  it('WATCHDOG_USEC: pings every half of it, only for our own pid', () => {
    assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 42), 15_000);
    assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 15_000);
    assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42), undefined);
    assert.equal(watchdogInterval({}, 42), undefined);
    assert.throws(() => watchdogInterval({ WATCHDOG_USEC: '0' }, 42), { message: /WATCHDOG_USEC: got "0"/ });
  });

  it('LISTEN_FDS: fds from 3 with their LISTEN_FDNAMES; another LISTEN_PID is not ours; names must match the count', () => {
    assert.deepEqual(activation({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:admin' }, 42), { sockets: [{ fd: 3, name: 'web' }, { fd: 4, name: 'admin' }] });
    assert.deepEqual(activation({ LISTEN_PID: '42', LISTEN_FDS: '1' }, 42), { sockets: [{ fd: 3, name: 'unknown' }] });
    assert.deepEqual(activation({ LISTEN_PID: '41', LISTEN_FDS: '1' }, 42), { foreignPid: 41 });
    assert.equal(activation({}, 42), undefined);
    assert.equal(activation({ LISTEN_PID: '42', LISTEN_FDS: '0' }, 42), undefined);
    assert.throws(() => activation({ LISTEN_PID: '42', LISTEN_FDS: '2', LISTEN_FDNAMES: 'web' }, 42), { message: /LISTEN_FDNAMES: got "web". Accepted: 2 colon-separated names/ });
    assert.throws(() => activation({ LISTEN_FDS: '1' }, 42), { message: /LISTEN_PID/ });
    assert.throws(() => activation({ LISTEN_PID: '42', LISTEN_FDS: 'two' }, 42), { message: /LISTEN_FDS: got "two"/ });
  });

  it('reads /proc/net addresses (little-endian words)', () => {
    assert.equal(procAddress('0100007F'), '127.0.0.1');
    assert.equal(procAddress('00000000000000000000000000000000'), '::');
    assert.equal(procAddress('00000000000000000000000001000000'), '::1');
    assert.equal(procAddress('B80D0120000000000000000001000000'), '2001:db8::1');
  });
});

describe('which listen() an inherited socket serves', () => {
  const sockets: WorkerSocket[] = [
    { fd: 3, name: 'web', type: 'tcp', port: 8080 },
    { fd: 4, name: 'api', type: 'unix', path: '/run/app/api.sock' },
  ];
  const none = new Set<number>();

  it('reads Node\'s listen() argument forms', () => {
    assert.deepEqual(requested([8080]), { port: 8080 });
    assert.deepEqual(requested(['8080', () => {}]), { port: 8080 });
    assert.deepEqual(requested([8080, '0.0.0.0', 100, () => {}]), { port: 8080, backlog: 100 });
    assert.deepEqual(requested(['/run/app/api.sock', 64]), { path: '/run/app/api.sock', backlog: 64 });
    assert.deepEqual(requested([{ port: 8080, host: '::', backlog: 10 }]), { port: 8080, backlog: 10 });
    assert.deepEqual(requested([{ path: '/run/app/api.sock' }]), { path: '/run/app/api.sock' });
    assert.equal(requested([{ fd: 3 }]), undefined);
    assert.equal(requested([{ handle: {} }]), undefined);
    assert.equal(requested([() => {}]), undefined);
  });

  it('the socket bound to the same port or path; else PORT goes to the first socket; anything else is the app\'s own', () => {
    assert.equal(pick(sockets, { port: 8080 }, none, undefined)?.fd, 3);
    assert.equal(pick(sockets, { path: '/run/app/api.sock' }, none, undefined)?.fd, 4);
    assert.equal(pick(sockets, { port: 3000 }, none, '3000')?.fd, 3, 'the app listens on PORT, which names no socket');
    assert.equal(pick(sockets, { path: '/tmp/x.sock' }, none, '/tmp/x.sock')?.fd, 3);
    assert.equal(pick(sockets, { port: 9100 }, none, '3000'), undefined, 'a metrics port is left alone');
    assert.equal(pick(sockets, { port: 0 }, none, '3000'), undefined);
    assert.equal(pick(sockets, { port: 8080 }, new Set([3]), undefined), undefined, 'one server per socket');
  });
});
