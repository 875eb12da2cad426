// Tests of an outsider's plugin, written only against published packages: the plugin itself (by its
// package name, so the built package is what runs) and @master-process/testkit.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cleanupAll, freePort, httpGet, runLoad, startMaster, type MasterSpec } from '@master-process/testkit';
import { requestLog } from 'master-process-plugin-request-log';

const cwd = fileURLToPath(new URL('..', import.meta.url));
afterEach(cleanupAll);

async function start(spec: Omit<MasterSpec, 'plugins'> & { plugin?: Record<string, unknown> } = {}) {
  const port = await freePort();
  const { plugin = {}, ...rest } = spec;
  const master = startMaster(
    { ...rest, plugins: [{ package: 'master-process-plugin-request-log', export: 'requestLog', options: plugin }] },
    { cwd, env: { PORT: String(port) } },
  );
  await master.started();
  return { master, port };
}

describe('request-log', () => {
  // The example of the testkit's README.
  it('counts every response of every worker, across a reload', async () => {
    const port = await freePort();
    const master = startMaster(
      {
        options: { workers: 2 }, // createMaster options; the worker script defaults to the fixture app
        plugins: [{ package: 'master-process-plugin-request-log', export: 'requestLog', options: { interval: '1s' } }],
        listen: ['request-log:report'], // custom events to record besides the core ones
      },
      { cwd, env: { PORT: String(port) } },
    );
    await master.started(); // every slot ready (rejects with the error's code if the master failed)

    const load = runLoad({ target: { port }, connections: 4, keepAlive: true, durationMs: 1500 });
    const result = await load.done;
    assert.equal(result.failed, 0, JSON.stringify(result.failures));

    const report = await master.callApi('request-log', 'report'); // master.plugin(name).report()
    assert.equal(report.total, result.ok);
    assert.deepEqual(report.byStatus, { 200: result.ok });
    assert.ok(report.workers.length === 2 && report.workers.every((w: { total: number }) => w.total > 0), 'both workers served and counted');
    await master.waitFor('request-log:report'); // the plugin's custom event

    const during = runLoad({ target: { port }, connections: 4, keepAlive: true });
    master.signal('SIGHUP'); // a rolling reload, as an operator does it
    await master.waitFor('reload:done');
    during.stop();
    assert.equal((await during.done).failed, 0, 'no request failed during the reload');
    assert.equal((await httpGet({ port })).body.gen, 1);

    assert.deepEqual(await master.stop(), { code: 0, signal: null });
  });

  it('a reload: the new generation counts from zero, the retired workers are gone from the report', async () => {
    const { master, port } = await start({ options: { workers: 1 } });
    for (let i = 0; i < 3; i++) assert.equal((await httpGet({ port })).status, 200);
    assert.equal((await master.callApi('request-log', 'report')).total, 3);
    await master.reload();
    const report = await master.callApi('request-log', 'report');
    assert.deepEqual(report.workers.map((w: { generation: number; total: number }) => [w.generation, w.total]), [[1, 0]]);
  });

  it('emits request-log:report on its interval, and leaves nothing running after stop', async () => {
    const { master } = await start({ options: { workers: 1, exitProcess: false }, plugin: { interval: '200ms' }, listen: ['request-log:report'] });
    const first = await master.waitFor('request-log:report');
    assert.equal(first.args![0].workers.length, 1);
    master.signal('SIGTERM');
    await master.waitFor('master:stopped');
    // With exitProcess false the master process ends only if no timer or handle of ours is left.
    assert.deepEqual(await master.exited, { code: 0, signal: null });
  });

  it('refuses bad options with the option, the value and what is accepted', () => {
    assert.throws(() => requestLog({ interval: 'often' }), { code: 'MP_ERR_INVALID_OPTION', message: /master-process-plugin-request-log: invalid option `interval`: got "often"\. Accepted: .*"5s"/ });
    assert.throws(() => requestLog({ intervl: 5 } as never), { code: 'MP_ERR_INVALID_OPTION', message: /unknown option `intervl`/ });
  });
});
