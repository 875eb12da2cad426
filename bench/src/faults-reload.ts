// Faults 1-2: broken deploys and impatient operators, while the load client runs.
import { sleep } from '@master-process/testkit';
import { census, eventually, settled, since, W, type Fault, type FaultContext } from './faults-kit.js';

const BROKEN_EXPECTED =
  'reload fails (reload:failed + stderr line + reload() rejects MP_ERR_RELOAD_FAILED); the old generation keeps serving; 0 failed requests; no crash loop; the next good reload succeeds';

/** Fault 1: deploy code that is broken at boot, reload, then deploy a fix and reload again. */
function brokenDeploy(id: string, title: string, app: Record<string, unknown>, options: Record<string, unknown> = {}, gap?: string): Fault {
  return {
    id,
    title,
    expected: BROKEN_EXPECTED,
    async run(ctx: FaultContext) {
      const h = await ctx.start({ options });
      const old = (await h.workers()).map((w: { pid: number }) => w.pid).sort();
      ctx.load();
      await sleep(500);
      ctx.deploy(app);
      const mark = h.mark();
      const began = Date.now();
      const rejection = await h.command('reload').then(() => undefined, (error: Error & { code?: string }) => error);
      ctx.figures.reloadOutcomeMs = Date.now() - began;
      ctx.check('reload() rejects with MP_ERR_RELOAD_FAILED', rejection?.code === 'MP_ERR_RELOAD_FAILED', rejection?.message ?? 'reload() resolved', gap);
      ctx.check('a reload:failed event is emitted', since(h, mark, 'reload:failed').length === 1, undefined, gap);
      const logged = await eventually(h, 'the stderr line', () => h.output.some((l) => /^master-process: reload \d+ failed/.test(l)), rejection ? 15_000 : 1000);
      ctx.check('a "reload N failed" line is printed on stderr', logged, undefined, gap);
      // Give a crash loop every chance to show up before looking.
      const quiet = h.mark();
      await sleep(3000);
      const serving = (await h.workers()).map((w: { pid: number }) => w.pid).sort();
      ctx.check('the old generation keeps serving', JSON.stringify(serving) === JSON.stringify(old), `before ${old}, after ${serving}`, gap);
      const crashes = since(h, mark, 'worker:crash-delay').length;
      ctx.figures.crashRestarts = crashes;
      ctx.check('no crash restarts and no forks after the failed reload', crashes === 0 && since(h, quiet, 'worker:fork').length === 0, `${crashes} crash restart(s), ${since(h, quiet, 'worker:fork').length} fork(s) in the 3 s after`, gap);
      if (rejection) ctx.note(`rejected in ${ctx.figures.reloadOutcomeMs} ms: ${rejection.message.split('. ')[0]}`);
      else ctx.note(`reload() resolved; then ${crashes} crash restart(s) of the new generation`);

      ctx.deploy({});
      const good = await h.command('reload').then((r: { generation: number }) => r, (error: Error) => error);
      const now = await h.workers();
      const newest = good instanceof Error ? -1 : good.generation;
      ctx.check('the next good reload succeeds', !(good instanceof Error) && now.length === W && now.every((w: { generation: number }) => w.generation === newest), good instanceof Error ? good.message : `workers ${JSON.stringify(now)}`);
      if (!(good instanceof Error)) ctx.note('the next good reload succeeded');
      await sleep(500);
      await ctx.stopLoad();
      ctx.check('the load client ran', ctx.requests > 0);
      ctx.check('0 failed requests', ctx.failed === 0, JSON.stringify(ctx.failures), gap);
      await ctx.audit(h);
    },
  };
}

/** After a burst of SIGHUPs: exactly W ready workers of the newest generation, nothing else alive, no orphan. */
async function checkConverged(ctx: FaultContext, h: Awaited<ReturnType<FaultContext['start']>>): Promise<void> {
  await settled(h);
  const state = await h.command('state');
  const workers = await h.workers();
  const { alive, orphans } = census(h);
  ctx.figures.reloads = h.count('reload:start');
  ctx.figures.reloadsFailed = h.count('reload:failed');
  ctx.figures.forks = h.count('worker:fork');
  ctx.check(
    `exactly ${W} workers, all of the newest generation`,
    workers.length === W && workers.every((w: { generation: number; state: string }) => w.generation === state.generation && w.state === 'ready'),
    `generation ${state.generation}, workers ${JSON.stringify(workers.map((w: object) => w))}`,
  );
  ctx.check('no process of an older generation is alive', alive.length === W, `alive: ${alive}`);
  ctx.check('no orphan', orphans.length === 0, `orphans: ${orphans}`);
  ctx.check('no reload failed', h.count('reload:failed') === 0);
  ctx.note(`${ctx.figures.reloads} reload(s) ran, ${ctx.figures.forks} forks, newest generation ${state.generation}`);
}

function sighupStorm(id: string, title: string, send: (ctx: FaultContext, h: Awaited<ReturnType<FaultContext['start']>>) => Promise<number>): Fault {
  return {
    id,
    title,
    expected: `afterwards exactly ${W} workers of the newest generation, no orphan, 0 failed requests`,
    async run(ctx) {
      const h = await ctx.start();
      ctx.load();
      await sleep(500);
      const sent = await send(ctx, h);
      ctx.figures.sighups = sent;
      await checkConverged(ctx, h);
      ctx.check('SIGHUPs during a reload coalesce (fewer reloads than SIGHUPs)', sent < 3 || h.count('reload:start') < sent, `${h.count('reload:start')} reloads for ${sent} SIGHUPs`);
      await sleep(300);
      await ctx.stopLoad();
      ctx.check('the load client ran', ctx.requests > 0);
      ctx.check('0 failed requests', ctx.failed === 0, JSON.stringify(ctx.failures));
      await ctx.audit(h);
    },
  };
}

export const reloadFaults: Fault[] = [
  brokenDeploy('1a', 'new code throws at boot, during a reload', { boot: 'throw' }),
  brokenDeploy('1b', 'new code never becomes ready (readyTimeout 5 s), during a reload', { boot: 'never-listen' }, { readyTimeout: 5000 }),
  brokenDeploy(
    '1c',
    'new code exits 1 s after becoming ready, during a reload',
    { boot: 'exit-after-ready', exitAfter: 1000 },
    // Without a probation a worker that dies 1 s after ready is a crash of the serving generation.
    { reload: { probation: 3000 } },
  ),
  sighupStorm('2a', 'two SIGHUPs 100 ms apart', async (_ctx, h) => {
    h.signal('SIGHUP');
    await sleep(100);
    h.signal('SIGHUP');
    return 2;
  }),
  sighupStorm('2b', 'a SIGHUP while the old workers drain', async (_ctx, h) => {
    const mark = h.mark();
    h.signal('SIGHUP');
    await h.waitFor('worker:retire', (e) => e.args?.[0]?.generation === 0, { since: mark });
    h.signal('SIGHUP');
    return 2;
  }),
  sighupStorm('2c', '50 SIGHUPs in one second', async (_ctx, h) => {
    for (let i = 0; i < 50; i++) {
      h.signal('SIGHUP');
      await sleep(20);
    }
    return 50;
  }),
];
