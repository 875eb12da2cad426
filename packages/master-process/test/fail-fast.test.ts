// What a newcomer sees on the first mistakes, run as they would run it (`node app.js`): the exit code,
// one line saying why, no stack trace from dist/, and no retry loop when nothing could ever serve.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, startMaster, type MasterHandle } from '@master-process/testkit';

const cwd = fileURLToPath(new URL('..', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** Runs the app; resolves once it exited, with what the user saw and how long it took. */
async function run(script: string, env: Record<string, string>): Promise<{ m: MasterHandle; code: number | null; ms: number; ours: string[] }> {
  const started = Date.now();
  const m = startMaster({}, { cwd, script, env: { WORKERS: '2', ...env } });
  cleanups.push(() => m.cleanup());
  const { code } = await m.exited;
  return { m, code, ms: Date.now() - started, ours: m.output.filter((l) => l.startsWith('master-process: ')) };
}

/** Generous, for a busy machine: the fork counts prove there is no retry; this only bounds what a user waits. */
const QUICK = 20_000;

describe('fail fast at start, with one line that says why', () => {
  for (const [name, value, says] of [
    ['WORKERS', 'abc', /^master-process: @master-process\/core: invalid environment variable WORKERS: got "abc"\. Accepted: a positive integer, "MAX" .* or "AUTO"/],
    ['WORKERS', '0', /^master-process: @master-process\/core: invalid environment variable WORKERS: got "0"\./],
    ['MAX_KILL_TIMEOUT', '-3', /^master-process: @master-process\/core: invalid environment variable MAX_KILL_TIMEOUT: got "-3"\. Accepted: a duration of at least 1 ms \(milliseconds as a number, /],
  ] as const) {
    it(`${name}=${value}: exit 1, one line, no stack trace, no worker`, async () => {
      const { m, code, ours } = await run(fixture('init-app.cjs'), { [name]: value, PORT: String(await freePort()) });
      assert.equal(code, 1);
      assert.equal(ours.length, 1, m.tail());
      assert.match(ours[0]!, says);
      assert.equal(m.output.filter((l) => /^\s+at /.test(l)).length, 0, `no stack trace:\n${m.tail()}`);
      assert.equal(m.output.length, 1, m.tail());
    });
  }

  it('PORT=/nonexistent-dir/x.sock: refused before any fork, one line naming the socket and its folder', async () => {
    const { m, code, ms, ours } = await run(fixture('init-app.cjs'), { PORT: '/nonexistent-dir/x.sock', DEBUG: 'master-process:core' });
    assert.equal(code, 1);
    assert.equal(m.output.filter((l) => /forked for slot/.test(l)).length, 0, 'no worker was forked');
    assert.equal(ours.length, 1, m.tail());
    assert.match(ours[0]!, /cannot create the socket \/nonexistent-dir\/x\.sock: its folder \/nonexistent-dir does not exist/);
    assert.equal(m.output.filter((l) => /EACCES|^\s+at /.test(l)).length, 0, m.tail());
    assert.equal(m.output.filter((l) => !l.includes('master-process:core')).length, 1, m.tail());
    assert.ok(ms < QUICK, `took ${ms} ms`);
  });

  it('an app that throws at boot on the first start: one try per slot, one line with the worker\'s error, exit 1', async () => {
    const { m, code, ms, ours } = await run(fixture('init-app.cjs'), { PORT: String(await freePort()), APP_BOOT: 'throw', DEBUG: 'master-process:core' });
    assert.equal(code, 1);
    assert.equal(m.output.filter((l) => /forked for slot/.test(l)).length, 2, 'one fork per slot, no retry');
    const line = ours.find((l) => l.includes('could not start'));
    assert.match(line ?? '', /the first workers could not start: worker \d+ \(slot \d, generation 0\) exited before it was ready \(code 1, signal null\): fixture app: boot failure/, m.tail());
    assert.ok(ms < QUICK, `took ${ms} ms`);
  });

  it('init() without the isPrimary guard: the line names the missing guard, exit 1', async () => {
    const { m, code, ms, ours } = await run(fixture('no-guard-app.cjs'), { PORT: String(await freePort()) });
    assert.equal(code, 1);
    const line = ours.find((l) => l.includes('could not start'));
    assert.match(line ?? '', /exited before it was ready \(code 1, signal null\): MP_ERR_NOT_PRIMARY: the master was started again inside one of its own workers.*if \(cluster\.isPrimary\) \{ require\("master-process"\)\.init\(\); return; \}/, m.tail());
    assert.ok(ms < QUICK, `took ${ms} ms`);
  });
});
