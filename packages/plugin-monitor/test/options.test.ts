import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MasterProcessError } from '@master-process/core';
import { assess, MB, type Counters } from '../src/assess.js';
import { monitoringCommand } from '../src/messages.js';
import { resolveMonitorOptions } from '../src/options.js';
import { PauseState } from '../src/pause.js';
import { monitor } from '../src/index.js';

const fails = (fn: () => unknown, code: string, ...parts: (string | RegExp)[]) =>
  assert.throws(fn, (error: MasterProcessError) => {
    assert.ok(error instanceof MasterProcessError, `not a MasterProcessError: ${error}`);
    assert.equal(error.code, code);
    for (const part of parts) assert.match(error.message, typeof part === 'string' ? new RegExp(part.replace(/[.*+?^${}()|[\]\\`]/g, '\\$&')) : part);
    return true;
  });

describe('options', () => {
  it('has the 4.x defaults', () => {
    const o = resolveMonitorOptions({}, {});
    assert.deepEqual(o, { maxMemoryMB: process.arch === 'arm' || process.arch === 'ia32' ? 450 : 1200, maxCpu: 95, memoryFailures: 10, cpuFailures: 10, interval: 2000, grace: 30_000 });
  });

  it('reads the 4.x environment variables, an explicit option wins', () => {
    const env = { MAX_MEMORY_ALLOWED_MB: '300', MAX_CPU_ALLOWED: '80', MEM_MONITOR_FAILURES: '4', CPU_MONITOR_FAILURE: '6' };
    assert.deepEqual(resolveMonitorOptions({}, env), { maxMemoryMB: 300, maxCpu: 80, memoryFailures: 4, cpuFailures: 6, interval: 2000, grace: 30_000 });
    assert.equal(resolveMonitorOptions({ cpuFailures: 2 }, { ...env, CPU_MONITOR_FAILURES: '3' }).cpuFailures, 2);
    assert.equal(resolveMonitorOptions({}, { ...env, CPU_MONITOR_FAILURES: '3' }).cpuFailures, 3, 'the documented name wins over the misspelt one');
    assert.deepEqual(resolveMonitorOptions({ interval: '500ms', grace: '1s' }, {}).interval, 500);
  });

  it('rejects bad options at plugin creation, naming the option and what is accepted', () => {
    fails(() => monitor({ maxMemoryMB: -1 }), 'MP_ERR_INVALID_OPTION', 'option `maxMemoryMB`', 'got -1', 'a number > 0');
    fails(() => monitor({ maxCpu: 'lots' }), 'MP_ERR_INVALID_OPTION', 'option `maxCpu`', '"lots"', 'a number > 0');
    fails(() => monitor({ memoryFailures: 0 }), 'MP_ERR_INVALID_OPTION', 'option `memoryFailures`', 'an integer >= 1');
    fails(() => monitor({ cpuFailures: 2.5 }), 'MP_ERR_INVALID_OPTION', 'option `cpuFailures`', 'an integer >= 1');
    fails(() => monitor({ interval: 10 }), 'MP_ERR_INVALID_OPTION', 'option `interval`', 'at least 100 ms');
    fails(() => monitor({ grace: '-1s' }), 'MP_ERR_INVALID_OPTION', 'option `grace`');
    fails(() => monitor({ maxMemory: 100 } as never), 'MP_ERR_INVALID_OPTION', 'unknown option `maxMemory`', 'maxMemoryMB');
    fails(() => resolveMonitorOptions({}, { MAX_CPU_ALLOWED: 'abc' }), 'MP_ERR_INVALID_ENV', 'environment variable MAX_CPU_ALLOWED', '"abc"');
    fails(() => resolveMonitorOptions({}, { MEM_MONITOR_FAILURES: '0' }), 'MP_ERR_INVALID_ENV', 'environment variable MEM_MONITOR_FAILURES', 'an integer >= 1');
  });

  it('gives a plugin object whose api reports the pause state', () => {
    const plugin = monitor({ interval: 1000 });
    assert.equal(plugin.name, 'monitor');
    assert.equal(plugin.api!.paused, false);
    plugin.api!.pause('a');
    plugin.api!.pause('b');
    plugin.api!.resume('a');
    assert.deepEqual([plugin.api!.paused, plugin.api!.pausedBy], [true, ['b']]);
    plugin.api!.resume('b');
    assert.equal(plugin.api!.paused, false);
  });
});

describe('assess (one sample of one worker)', () => {
  const limits = resolveMonitorOptions({ maxMemoryMB: 100, maxCpu: 50, memoryFailures: 3, cpuFailures: 2 }, {});
  const fresh = (): Counters => ({ memoryFailures: 0, cpuFailures: 0, baseline: false });

  it('replaces only after N consecutive samples over the memory limit; one under resets the count', () => {
    const c = fresh();
    const over = { memory: 101 * MB, cpu: 0 };
    assert.equal(assess(c, over, limits).replace, undefined);
    assert.equal(assess(c, over, limits).replace, undefined);
    assert.equal(assess(c, { memory: 99 * MB, cpu: 0 }, limits).replace, undefined);
    assert.equal(c.memoryFailures, 0);
    assess(c, over, limits);
    assess(c, over, limits);
    assert.equal(assess(c, over, limits).replace, 'memory');
  });

  it('does the same for CPU, but never judges a baseline sample (first read, after a pause)', () => {
    const c: Counters = { memoryFailures: 0, cpuFailures: 0, baseline: true };
    const busy = { memory: 10 * MB, cpu: 99 };
    assert.equal(assess(c, busy, limits).replace, undefined);
    assert.equal(c.cpuFailures, 0, 'the baseline sample is not counted');
    assert.equal(assess(c, busy, limits).replace, undefined);
    assert.equal(assess(c, busy, limits).replace, 'cpu');
  });

  it('reports memory above 80% of the limit (mem_high), not below', () => {
    assert.equal(assess(fresh(), { memory: 79 * MB, cpu: 0 }, limits).memHigh, undefined);
    assert.equal(Math.round(assess(fresh(), { memory: 90 * MB, cpu: 0 }, limits).memHigh!), 90);
  });
});

describe('worker messages and pause state', () => {
  it('accepts pause/resume as a 4.x JSON string or an object, and ignores anything else', () => {
    assert.equal(monitoringCommand('{"msg":"pause_monitoring"}'), 'pause_monitoring');
    assert.equal(monitoringCommand({ msg: 'resume_monitoring' }), 'resume_monitoring');
    assert.equal(monitoringCommand('pause_monitoring'), undefined);
    assert.equal(monitoringCommand('{"msg":"other_monitoring"}'), undefined);
    assert.equal(monitoringCommand(null), undefined);
    assert.equal(monitoringCommand({ cmd: 'mp:ready' }), undefined);
  });

  it('stays paused while any source holds a pause', () => {
    const p = new PauseState();
    assert.equal(p.pause('worker'), true);
    assert.equal(p.pause('profiler'), false);
    assert.equal(p.resume('profiler'), false);
    assert.equal(p.paused, true);
    assert.equal(p.resume('worker'), true);
    assert.equal(p.resume('worker'), false);
  });
});
