// plugin-profiler-signal and plugin-monitor never import each other: they meet through the core's
// `monitoring:pause` / `monitoring:resume` events. This checks the monitor really steps aside.
import assert from 'node:assert/strict';
import http from 'node:http';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fixtures, freePort, startMaster, type MasterHandle } from '@master-process/testkit';

const cwd = join(import.meta.dirname, '..');
let handle: MasterHandle | undefined;
after(() => handle?.cleanup());

function burn(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/cpu?ms=200', agent: false }, (res) => res.resume().on('end', resolve)).on('error', reject);
  });
}

/** Keep the worker's CPU busy until `done()` says stop. */
async function burnUntil(port: number, done: () => boolean): Promise<void> {
  while (!done()) await burn(port).catch(() => {}); // the worker may be replaced under the load
}

test('SIGUSR2 pauses the monitor while workers are profiled, the next SIGUSR2 resumes it', async () => {
  const port = await freePort();
  handle = startMaster(
    {
      options: { exec: fixtures.app, workers: 1 },
      // The fixture resolves the packages' `require` entries: name the exports.
      plugins: [
        { package: '@master-process/plugin-monitor', export: 'monitor', options: { interval: '200ms', grace: 0, maxCpu: 50, cpuFailures: 3 } },
        { package: '@master-process/plugin-profiler-signal', export: 'profilerSignal', options: { maxPause: 0 } },
      ],
      listen: ['monitor:paused', 'monitor:resumed', 'monitor:sample', 'monitor:replacing', 'profiler:start', 'profiler:stop'],
    },
    { cwd, env: { PORT: String(port), APP_HANDLE_SIGNALS: 'SIGUSR2' } },
  );
  await handle.started();
  const h = handle;
  await h.waitFor('monitor:sample');
  const [worker] = await h.workers();

  let since = h.mark();
  h.signal('SIGUSR2');
  const paused = await h.waitFor('monitor:paused', () => true, { since });
  assert.equal(paused.args![0].source, 'profiler-signal');
  await h.until('the worker to get SIGUSR2', () => h.appLines.some((l) => l.app === 'signal' && l.pid === worker!.pid));

  // A profiled worker is slow on purpose: 3 s at full CPU, 15 intervals, 5 times what cpuFailures tolerates.
  const until = Date.now() + 3_000;
  await burnUntil(port, () => Date.now() > until);
  const pausedAt = h.events.indexOf(paused);
  assert.equal(h.count('monitor:replacing'), 0, `the monitor replaced a worker during profiling\n${h.tail()}`);
  assert.equal(h.events.slice(pausedAt).filter((e) => e.ev === 'monitor:sample').length, 0, 'no sample while paused');

  since = h.mark();
  h.signal('SIGUSR2');
  const resumed = await h.waitFor('monitor:resumed', () => true, { since });
  assert.equal(resumed.args![0].source, 'profiler-signal');
  await h.waitFor('monitor:sample', () => true, { since });

  // Control: the same load, monitoring on, gets the worker replaced, so the check above could fail.
  const deadline = Date.now() + 60_000;
  await burnUntil(port, () => h.count('monitor:replacing') > 0 || Date.now() > deadline);
  const replacing = await h.waitFor('monitor:replacing', () => true, { timeout: 1_000 });
  assert.equal(replacing.args![0].pid, worker!.pid);
  assert.equal(replacing.args![0].resource, 'cpu');
});
