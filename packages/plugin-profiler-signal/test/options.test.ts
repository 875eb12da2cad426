import assert from 'node:assert/strict';
import { test } from 'node:test';
import profilerSignalDefault, { profilerSignal } from '../src/index.js';

const refuses = (options: unknown, option: string, value: string, accepted: string) =>
  assert.throws(
    () => profilerSignal(options as never),
    (error: any) =>
      error.code === 'MP_ERR_INVALID_OPTION' &&
      error.message.startsWith('@master-process/plugin-profiler-signal:') &&
      error.message.includes(option) &&
      error.message.includes(value) &&
      error.message.includes(accepted),
    `${JSON.stringify(options)} should be refused`,
  );

test('defaults: a plugin named profiler-signal that handles SIGUSR2 and is not profiling', () => {
  assert.equal(profilerSignalDefault, profilerSignal);
  const plugin = profilerSignal();
  assert.equal(plugin.name, 'profiler-signal');
  assert.deepEqual(plugin.signals, ['SIGUSR2']);
  assert.equal(plugin.api?.profiling, false);
  for (const hook of ['setup', 'onSignal', 'onExit'] as const) assert.equal(typeof plugin[hook], 'function');
});

test('valid options are accepted', () => {
  assert.doesNotThrow(() => profilerSignal({ signal: 'SIGUSR1', workers: [0, 2, 2], maxPause: '90s' }));
  assert.doesNotThrow(() => profilerSignal({ maxPause: 0 }));
  assert.doesNotThrow(() => profilerSignal({ maxPause: 1500 }));
});

test('a bad `signal` is refused, naming the value and what is accepted', () => {
  refuses({ signal: 'SIGNOPE' }, '`signal`', '"SIGNOPE"', 'SIGUSR2');
  refuses({ signal: 'usr2' }, '`signal`', '"usr2"', 'SIGUSR2');
  refuses({ signal: 'SIGKILL' }, '`signal`', '"SIGKILL"', 'not SIGKILL');
  refuses({ signal: 'SIGTERM' }, '`signal`', '"SIGTERM"', 'not SIGKILL, SIGSTOP, SIGTERM or SIGINT');
  refuses({ signal: 12 }, '`signal`', '12', 'SIGUSR2');
});

test('a bad `workers` is refused: slot indexes are non-negative integers', () => {
  refuses({ workers: [-1] }, '`workers`', '[-1]', 'integers >= 0');
  refuses({ workers: [1.5] }, '`workers`', '[1.5]', 'integers >= 0');
  refuses({ workers: ['0'] }, '`workers`', '["0"]', 'integers >= 0');
  refuses({ workers: [] }, '`workers`', '[]', 'non-empty array');
  refuses({ workers: 2 }, '`workers`', '2', 'array of slot indexes');
});

test('a bad `maxPause` is refused with the duration forms', () => {
  refuses({ maxPause: 'ten minutes' }, '`maxPause`', '"ten minutes"', '"5s"');
  refuses({ maxPause: -1 }, '`maxPause`', '-1', 'a duration of at least 0 ms');
});

test('unknown options and non-objects are refused', () => {
  refuses({ maxPaus: '1m' }, '`maxPaus`', 'maxPaus', 'signal, workers, maxPause');
  refuses('SIGUSR2', '`options`', '"SIGUSR2"', 'an object { signal, workers, maxPause }');
});
