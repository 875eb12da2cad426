// Faults 10a/10b: the master itself restarts under load, 5 times (SIGTERM, the version guard's exit 1,
// SIGKILL, SIGTERM, exit 1), restarted at once as by Restart=always. The same runs as `pnpm bench`'s
// master-restart scenario (restart.ts), on a port the master binds (10a) and on a socket systemd holds (10b).
import type { Fault, FaultContext } from './faults-kit.js';
import { W } from './faults-kit.js';
import { runRestarts, type RestartSetup } from './restart.js';

async function restarts(ctx: FaultContext, setup: RestartSetup) {
  const r = await runRestarts({ setup, workers: W, connections: 8 }, (load) => ctx.loads.push(load));
  ctx.leftovers.processes = r.leftovers;
  ctx.check('each of the 5 restarts brought a serving master back', r.restarts.length === 5, JSON.stringify(r.restarts));
  ctx.check('no process of the run is left', r.leftovers.length === 0, r.leftovers.join(' '));
  ctx.figures.refused = r.refused;
  ctx.figures.reset = r.reset;
  ctx.figures.maxGapMs = Math.max(...r.restarts.map((x) => x.gapMs));
  ctx.figures.maxLatencyMs = Math.round(r.latency.max);
  return r;
}

export const restartFaults: Fault[] = [
  {
    id: '10a',
    title: 'the master restarted 5 times under load (SIGTERM, version guard exit 1, SIGKILL), binding the port itself',
    expected: 'connections are refused while no master listens, at every restart (what 10b is for)',
    plugins: ['plugin-systemd', 'plugin-version-guard'],
    async run(ctx) {
      const r = await restarts(ctx, 'bound');
      ctx.note(`${r.refused} refused and ${r.reset} reset in 5 restarts; exit to next master ready up to ${ctx.figures.maxGapMs} ms`);
    },
  },
  {
    id: '10b',
    title: 'the master restarted 5 times under load (SIGTERM, version guard exit 1, SIGKILL) on a socket systemd holds (socket activation)',
    expected: '0 refused, 0 failed: connections wait in the backlog while no master runs; the killed master\'s workers answer what they had accepted (the orphan grace)',
    plugins: ['plugin-systemd', 'plugin-version-guard'],
    async run(ctx) {
      const r = await restarts(ctx, 'activated');
      ctx.check('no connection refused', r.refused === 0, JSON.stringify(r.failures));
      // The graceful restarts drain; at the SIGKILL the orphaned workers stop accepting and answer what they had
      // accepted (300 ms requests are in flight at each restart), then exit.
      ctx.check('no request failed, at any restart (the SIGKILL included)', r.failed === 0, JSON.stringify(r.restarts));
      ctx.note(`0 refused, ${r.failed} failed; the longest wait in the backlog ${ctx.figures.maxLatencyMs} ms`);
    },
  },
];
