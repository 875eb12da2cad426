// Validation is pure logic: these run in-process, no workers are forked.
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { describe, it } from 'node:test';
import { createMaster, parseDuration, resolveOptions } from '../src/index.js';

const rejects = (fn: () => unknown, code: string, ...parts: (string | RegExp)[]) => {
  assert.throws(fn, (error: Error & { code?: string }) => {
    assert.equal(error.code, code, error.message);
    for (const part of parts) assert.match(error.message, typeof part === 'string' ? new RegExp(part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : part);
    return true;
  });
};

describe('options and environment', () => {
  it('reads WORKERS, MAX_KILL_TIMEOUT and WORKER_THROTTLE from the environment', () => {
    const o = resolveOptions({ exec: 'app.js' }, { WORKERS: '3', MAX_KILL_TIMEOUT: '2s', WORKER_THROTTLE: '250ms' });
    assert.equal(o.workers, 3);
    assert.equal(o.killTimeout, 2000);
    assert.equal(o.crash.throttle, 250);
    assert.equal(resolveOptions({ exec: 'app.js' }, { SHUTDOWN_DELAY: '5s' }).shutdownDelay, 5000);
    assert.equal(resolveOptions({ exec: 'app.js' }, {}).shutdownDelay, 0);
  });

  it('explicit options win over environment variables, which win over defaults', () => {
    const o = resolveOptions({ exec: 'app.js', workers: 2, killTimeout: 700 }, { WORKERS: '5', MAX_KILL_TIMEOUT: '9s' });
    assert.equal(o.workers, 2);
    assert.equal(o.killTimeout, 700);
    const d = resolveOptions({ exec: 'app.js' }, {});
    assert.equal(d.workers, 1);
    assert.equal(d.killTimeout, 5000);
    assert.equal(d.crash.throttle, 1000);
    assert.equal(d.reload.concurrency, 1);
  });

  it('WORKERS=MAX and WORKERS=AUTO are both one worker per core, as the 4.x README documents', () => {
    const cores = availableParallelism();
    assert.equal(resolveOptions({ exec: 'a' }, { WORKERS: 'MAX' }).workers, cores);
    assert.equal(resolveOptions({ exec: 'a' }, { WORKERS: 'auto' }).workers, cores);
    assert.equal(resolveOptions({ exec: 'a', workers: 'AUTO' }, {}).workers, cores);
  });

  it('durations accept plain ms, "500ms", "5s", "2m"', () => {
    assert.equal(parseDuration('1500', { option: 'x' }), 1500);
    assert.equal(parseDuration('500ms', { option: 'x' }), 500);
    assert.equal(parseDuration('1.5s', { option: 'x' }), 1500);
    assert.equal(parseDuration('2m', { option: 'x' }), 120_000);
    assert.equal(parseDuration(250, { option: 'x' }), 250);
  });

  it('reload.concurrency defaults to all slots and is capped by the workers count', () => {
    assert.equal(resolveOptions({ exec: 'a', workers: 4 }, {}).reload.concurrency, 4);
    assert.equal(resolveOptions({ exec: 'a', workers: 4, reload: { concurrency: 1 } }, {}).reload.concurrency, 1);
    assert.equal(resolveOptions({ exec: 'a', workers: 2, reload: { concurrency: 9 } }, {}).reload.concurrency, 2);
  });
});

describe('bad input is a clear error at createMaster', () => {
  const env = (vars: Record<string, string>, fn: () => unknown) => {
    const saved = { ...process.env };
    Object.assign(process.env, vars);
    try {
      return fn();
    } finally {
      for (const k of Object.keys(vars)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  };

  it('WORKERS=abc names the variable, the value and the accepted forms', () => {
    env({ WORKERS: 'abc' }, () => rejects(() => createMaster({ exec: 'a.js' }), 'MP_ERR_INVALID_ENV', 'environment variable WORKERS', '"abc"', 'positive integer', 'MAX', 'AUTO'));
  });

  it('WORKERS=0 and WORKERS=1.5 are refused', () => {
    env({ WORKERS: '0' }, () => rejects(() => createMaster({ exec: 'a.js' }), 'MP_ERR_INVALID_ENV', 'WORKERS', '"0"'));
    env({ WORKERS: '1.5' }, () => rejects(() => createMaster({ exec: 'a.js' }), 'MP_ERR_INVALID_ENV', 'WORKERS', '"1.5"'));
  });

  it('MAX_KILL_TIMEOUT=-3 names the variable and the accepted forms, saying one thing about the minimum', () => {
    env({ MAX_KILL_TIMEOUT: '-3' }, () =>
      rejects(() => createMaster({ exec: 'a.js' }), 'MP_ERR_INVALID_ENV', 'environment variable MAX_KILL_TIMEOUT', '"-3"', '"5s"', 'at least 1 ms', /^(?!.*non-negative)/s));
  });

  it('WORKER_THROTTLE=soon is refused', () => {
    env({ WORKER_THROTTLE: 'soon' }, () => rejects(() => createMaster({ exec: 'a.js' }), 'MP_ERR_INVALID_ENV', 'WORKER_THROTTLE', '"soon"'));
    env({ SHUTDOWN_DELAY: 'a while' }, () => rejects(() => createMaster({ exec: 'a.js' }), 'MP_ERR_INVALID_ENV', 'environment variable SHUTDOWN_DELAY', '"a while"'));
  });

  it('a bad option names the option', () => {
    rejects(() => createMaster({ exec: 'a.js', workers: -2 }), 'MP_ERR_INVALID_OPTION', 'option `workers`', '-2');
    rejects(() => createMaster({ exec: 'a.js', killTimeout: 'forever' }), 'MP_ERR_INVALID_OPTION', 'option `killTimeout`', '"forever"');
    rejects(() => createMaster({ exec: 'a.js', readyOn: 'online' as never }), 'MP_ERR_INVALID_OPTION', 'option `readyOn`', '"listening" or "message"');
    rejects(() => createMaster({ exec: 'a.js', crash: 'ignore' as never }), 'MP_ERR_INVALID_OPTION', 'option `crash`', '"exit"');
    rejects(() => createMaster({ exec: 'a.js', reload: { concurrency: 0 } }), 'MP_ERR_INVALID_OPTION', 'reload.concurrency');
  });

  it('an unknown option (a typo) is refused', () => {
    rejects(() => createMaster({ exec: 'a.js', worker: 2 } as never), 'MP_ERR_INVALID_OPTION', 'unknown option `worker`', 'workers');
  });

  it('a plugin without a name', () => {
    rejects(() => createMaster({ exec: 'a.js', plugins: [{ beforeFork() {} } as never] }), 'MP_ERR_INVALID_PLUGIN', 'plugins`[0]', 'name', 'beforeFork');
  });

  it('a plugin factory passed uncalled', () => {
    rejects(() => createMaster({ exec: 'a.js', plugins: [(() => ({ name: 'x' })) as never] }), 'MP_ERR_INVALID_PLUGIN', 'a function', 'factory');
  });

  it('two plugins with the same name', () => {
    rejects(() => createMaster({ exec: 'a.js', plugins: [{ name: 'same' }, { name: 'same' }] }), 'MP_ERR_DUPLICATE_PLUGIN', '"same"', 'plugins[0]', 'plugins[1]');
  });

  it('an unknown hook name on a plugin suggests the right one', () => {
    rejects(() => createMaster({ exec: 'a.js', plugins: [{ name: 'typo', beforFork() {} } as never] }), 'MP_ERR_UNKNOWN_HOOK', '"typo"', '`beforFork`', 'Did you mean `beforeFork`');
  });

  it('a hook that is not a function, and a signal a plugin cannot own', () => {
    rejects(() => createMaster({ exec: 'a.js', plugins: [{ name: 'p', onExit: 3 } as never] }), 'MP_ERR_INVALID_PLUGIN', '`onExit` must be a function');
    rejects(() => createMaster({ exec: 'a.js', plugins: [{ name: 'p', signals: ['SIGKILL'] }] }), 'MP_ERR_INVALID_PLUGIN', 'SIGKILL');
  });
});

describe('plugin worker halves are checked at createMaster', () => {
  const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;
  const withWorker = (worker: unknown) => () => createMaster({ exec: 'a.js', plugins: [{ name: 'half', worker } as never] });

  it('a relative path, a missing file, a module that exports no function, options that are not JSON', () => {
    rejects(withWorker('./worker.js'), 'MP_ERR_INVALID_PLUGIN', 'plugin "half"', 'must be an absolute path', '"./worker.js"');
    rejects(withWorker({ module: fixture('echo-worker.cjs'), extra: 1 }), 'MP_ERR_INVALID_PLUGIN', '`worker` must be');
    rejects(withWorker({ module: fixture('echo-worker.cjs'), options: { n: 1n } }), 'MP_ERR_INVALID_PLUGIN', '`worker.options` must be JSON');
    rejects(withWorker(fixture('nothing-here.cjs')), 'MP_ERR_PLUGIN_WORKER', 'Plugin "half"', 'nothing-here.cjs is not a file');
    rejects(withWorker(fixture('object-worker.cjs')), 'MP_ERR_PLUGIN_WORKER', 'object-worker.cjs has no function as its default export (it exports an object with keys: setup)');
    assert.doesNotThrow(withWorker({ module: fixture('echo-worker.cjs'), options: { n: 1 } }));
  });
});
