import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MasterProcessError } from '@master-process/core';
import unixSocketDefault, { DEFAULT_MODE, unixSocket, type UnixSocketOptions } from '../src/index.js';
import { resolveUnixSocketOptions } from '../src/options.js';

/** Run `fn` with PORT set (or unset) in process.env, as the umbrella package calls `unixSocket()`. */
function withPort<T>(port: string | undefined, fn: () => T): T {
  const before = process.env.PORT;
  if (port === undefined) delete process.env.PORT;
  else process.env.PORT = port;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env.PORT;
    else process.env.PORT = before;
  }
}

function rejects(options: UnixSocketOptions, code: string, ...mentions: string[]): void {
  assert.throws(
    () => resolveUnixSocketOptions(options, {}),
    (error: MasterProcessError) => {
      assert.ok(error instanceof MasterProcessError);
      assert.equal(error.code, code);
      assert.match(error.message, /@master-process\/plugin-unix-socket/);
      for (const m of mentions) assert.ok(error.message.includes(m), `"${error.message}" should mention ${m}`);
      return true;
    },
  );
}

describe('options', () => {
  it('exports the factory as named and default export', () => {
    assert.equal(unixSocketDefault, unixSocket);
  });

  it('accepts a mode as a number or an octal string', () => {
    const mode = (m: number | string) => resolveUnixSocketOptions({ path: '/run/a.sock', mode: m }, {}).mode;
    assert.equal(DEFAULT_MODE, 0o664);
    assert.equal(resolveUnixSocketOptions({ path: '/run/a.sock' }, {}).mode, 0o664);
    assert.equal(mode(0o660), 0o660);
    assert.equal(mode(0), 0);
    assert.equal(mode(0o777), 0o777);
    for (const form of ['660', '0660', '0o660', '0O660', ' 660 ']) assert.equal(mode(form), 0o660, form);
  });

  it('refuses a mode in a bad form, naming `mode`', () => {
    for (const bad of [999, 0o1777, -1, 1.5, Number.NaN, 'rwx', '999', '', '0x1b4', '12345'] as (number | string)[]) {
      rejects({ path: '/run/a.sock', mode: bad }, 'MP_ERR_INVALID_OPTION', 'option `mode`', 'Accepted');
    }
    rejects({ path: '/run/a.sock', mode: true as unknown as number }, 'MP_ERR_INVALID_OPTION', 'option `mode`');
  });

  it('refuses a path that is relative, empty, not a string or too long for a socket', () => {
    rejects({ path: 'app.sock' }, 'MP_ERR_INVALID_OPTION', 'option `path`', '"app.sock"', 'absolute path');
    rejects({ path: './run/app.sock' }, 'MP_ERR_INVALID_OPTION', 'option `path`');
    rejects({ path: '' }, 'MP_ERR_INVALID_OPTION', 'option `path`', '""');
    rejects({ path: 3000 as unknown as string }, 'MP_ERR_INVALID_OPTION', 'option `path`', '3000');
    rejects({ path: `/tmp/${'x'.repeat(120)}.sock` }, 'MP_ERR_INVALID_OPTION', 'option `path`', 'bytes');
    rejects({ socket: '/run/a.sock' } as UnixSocketOptions, 'MP_ERR_INVALID_OPTION', '`socket`', 'path, mode');
  });

  it('takes the path from PORT when it starts with "/", and the option wins over PORT', () => {
    assert.equal(resolveUnixSocketOptions({}, { PORT: '/run/app/app.sock' }).path, '/run/app/app.sock');
    assert.equal(resolveUnixSocketOptions({ path: '/run/b.sock' }, { PORT: '/run/app/app.sock' }).path, '/run/b.sock');
    assert.equal(resolveUnixSocketOptions({}, { PORT: '3000' }).path, undefined);
    assert.equal(resolveUnixSocketOptions({}, {}).path, undefined);
    assert.throws(() => resolveUnixSocketOptions({}, { PORT: `/${'x'.repeat(120)}` }), /environment variable PORT/);
  });

  it('is inert when PORT is a number (or unset) and no path is given', () => {
    for (const port of ['3000', undefined]) {
      const plugin = withPort(port, () => unixSocket());
      // Only its name and declared compatibility: no hook.
      const { version: _version, core: _core, ...rest } = plugin;
      assert.deepEqual(rest, { name: 'unix-socket' }, `PORT=${port}`);
    }
    // Still validates what it is given, even with nothing to do.
    assert.throws(() => withPort('3000', () => unixSocket({ mode: 'rwx' })), /option `mode`/);
  });

  it('is active with a socket PORT or a path option', () => {
    const fromPort = withPort('/run/app/app.sock', () => unixSocket());
    assert.equal(fromPort.name, 'unix-socket');
    assert.equal(typeof fromPort.setup, 'function');
    assert.equal(typeof fromPort.onListening, 'function');
    assert.equal(typeof fromPort.onExit, 'function');
    assert.equal(typeof withPort('3000', () => unixSocket({ path: '/run/a.sock' })).setup, 'function');
  });
});
