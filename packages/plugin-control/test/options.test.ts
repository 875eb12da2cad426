// Pure logic: options, locations, the line splitter.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '@master-process/testkit';
import controlDefault, { control, defaultName, socketCandidates } from '../src/index.js';
import { resolveControlOptions } from '../src/options.js';
import { LineSplitter } from '../src/protocol.js';

const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({ PWD: process.cwd(), ...extra });

describe('options', () => {
  it('exports the factory as named and default export; the plugin is named "control"', () => {
    assert.equal(controlDefault, control);
    assert.equal(control({ path: '/tmp/x.sock' }).name, 'control');
  });

  it('defaults: <name>.sock in $XDG_RUNTIME_DIR/master-process, then in ./.master-process; the name comes from the working directory', () => {
    const name = defaultName(process.cwd());
    assert.match(name, /^plugin-control-[0-9a-f]{8}$/);
    assert.notEqual(defaultName('/srv/a/plugin-control'), name, 'two folders of the same name get two names');
    const withXdg = resolveControlOptions({}, env({ XDG_RUNTIME_DIR: '/run/user/1000' }));
    assert.deepEqual(withXdg.candidates, [
      { path: `/run/user/1000/master-process/${name}.sock`, ownFolder: true },
      { path: join(process.cwd(), '.master-process', `${name}.sock`), ownFolder: true },
    ]);
    assert.deepEqual(resolveControlOptions({}, env()).candidates.map((c) => c.path), [join(process.cwd(), '.master-process', `${name}.sock`)]);
    assert.equal(resolveControlOptions({}, env()).maxLineBytes, 65536);
    assert.equal(resolveControlOptions({}, env()).maxClients, 32);
  });

  it('path, dir and name from options or the environment; an explicit place is the only one tried', () => {
    assert.deepEqual(resolveControlOptions({ path: '/run/app/ctl.sock' }, env({ XDG_RUNTIME_DIR: '/run/user/0' })).candidates, [{ path: '/run/app/ctl.sock', ownFolder: false }]);
    assert.deepEqual(resolveControlOptions({}, env({ MASTER_PROCESS_SOCKET: '/run/a.sock' })).candidates.map((c) => c.path), ['/run/a.sock']);
    assert.deepEqual(resolveControlOptions({ name: 'api' }, env({ MASTER_PROCESS_SOCKET_DIR: '/run/app' })).candidates, [{ path: '/run/app/api.sock', ownFolder: false }]);
    assert.equal(resolveControlOptions({}, env({ MASTER_PROCESS_NAME: 'web' })).name, 'web');
    assert.equal(resolveControlOptions({ name: 'api' }, env({ MASTER_PROCESS_NAME: 'web' })).name, 'api', 'the option wins');
  });

  it('the same name and folders on the client side, plus /run/user/<uid> when XDG_RUNTIME_DIR is unset', () => {
    const paths = socketCandidates({ name: 'api' }, { env: {}, cwd: '/srv/app', forClient: true }).map((c) => c.path);
    assert.equal(paths.at(-1), '/srv/app/.master-process/api.sock');
    assert.deepEqual(socketCandidates({ name: 'api' }, { env: {}, cwd: '/srv/app' }).map((c) => c.path), ['/srv/app/.master-process/api.sock'], 'a master never guesses');
  });

  it('refuses bad values, naming the option or variable, the value and what is accepted', () => {
    const refuses = (fn: () => unknown, pattern: RegExp) => assert.throws(fn, (e: any) => (assert.match(e.message, pattern), assert.match(e.code, /^MP_ERR_INVALID_(OPTION|ENV)$/), true));
    refuses(() => resolveControlOptions({ path: 'ctl.sock' }, env()), /@master-process\/plugin-control: invalid option `path`: got "ctl.sock". Accepted: an absolute path/);
    refuses(() => resolveControlOptions({ path: `/${'x'.repeat(120)}.sock` }, env()), /at most 107 bytes/);
    refuses(() => resolveControlOptions({}, env({ MASTER_PROCESS_SOCKET_DIR: 'relative' })), /environment variable MASTER_PROCESS_SOCKET_DIR: got "relative"/);
    refuses(() => resolveControlOptions({ name: '../etc' }, env()), /option `name`: got "..\/etc". Accepted: 1 to 64 letters/);
    refuses(() => resolveControlOptions({ group: 'no-such-group-here' }, env()), /option `group`: got "no-such-group-here". Accepted: a group name listed in \/etc\/group, or a numeric gid/);
    refuses(() => resolveControlOptions({ maxLineBytes: 10 }, env()), /option `maxLineBytes`: got 10/);
    refuses(() => resolveControlOptions({ maxClients: 0 }, env()), /option `maxClients`: got 0/);
    assert.throws(() => resolveControlOptions({ socket: '/x' } as never, env()), /unknown option `socket`. Accepted: path, dir, name, group, maxLineBytes, maxClients/);
  });

  it('a group by name (from the group file) or by gid', async () => {
    const { parseGroup } = await import('../src/options.js');
    const dir = tempDir();
    try {
      const file = join(dir.path, 'group');
      writeFileSync(file, 'root:x:0:\ndeploy:x:1234:alice,bob\n');
      assert.deepEqual(parseGroup('deploy', { option: 'group' }, file), { gid: 1234, label: 'deploy' });
      assert.deepEqual(parseGroup(5, { option: 'group' }, file), { gid: 5, label: '5' });
      assert.deepEqual(parseGroup('77', { option: 'group' }, file), { gid: 77, label: '77' });
    } finally {
      dir.remove();
    }
  });
});

describe('LineSplitter', () => {
  it('splits lines across chunks and never holds more than its bound of an unfinished line', () => {
    const lines = new LineSplitter(10);
    assert.deepEqual(lines.push(Buffer.from('{"a"')), []);
    assert.deepEqual(lines.push(Buffer.from(':1}\r\n{"b":2}\n{"c')), ['{"a":1}', '{"b":2}']);
    assert.deepEqual(lines.push(Buffer.from('":3}\n')), ['{"c":3}']);
    assert.equal(lines.overflow, false);
    assert.deepEqual(lines.push(Buffer.from('short\n' + 'x'.repeat(11))), ['short']);
    assert.equal(lines.overflow, true);
    assert.deepEqual(lines.push(Buffer.from('\n{"d":4}\n')), [], 'after an overflow the rest is ignored');
  });

  it('keeps multi-byte characters split across chunks whole', () => {
    const lines = new LineSplitter(100);
    const bytes = Buffer.from('{"name":"héllo"}\n');
    assert.deepEqual([...lines.push(bytes.subarray(0, 11)), ...lines.push(bytes.subarray(11))], ['{"name":"héllo"}']);
  });
});
