// The master's own CPU while monitoring 4 idle workers at the default interval (2 s), compared with
// the same master without the monitor. Reported, not asserted:
//   node --import tsx test/measure-cpu.ts [seconds=30]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fixtures, freePort, sleep, startMaster } from '@master-process/testkit';
import { packageDir } from './helpers.js';

const seconds = Number(process.argv[2] ?? 30);
const clockTick = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** utime + stime of `pid`, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTick;
}

async function measure(withMonitor: boolean): Promise<number> {
  const handle = startMaster(
    {
      options: { exec: fixtures.app, workers: 4 },
      plugins: withMonitor ? [{ package: '@master-process/plugin-monitor', export: 'monitor', options: { grace: '1s' } }] : [],
    },
    { cwd: packageDir, env: { PORT: String(await freePort()) } },
  );
  try {
    await handle.started();
    await sleep(3000); // past the grace: every worker is sampled from now on
    const before = cpuSeconds(handle.pid);
    const startedAt = performance.now();
    await sleep(seconds * 1000);
    const used = cpuSeconds(handle.pid) - before;
    return (used / ((performance.now() - startedAt) / 1000)) * 100;
  } finally {
    await handle.cleanup();
  }
}

const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const without = await measure(false);
const withMonitor = await measure(true);
console.log(JSON.stringify({
  seconds, workers: 4, interval: '2s', loadavgBefore: load,
  masterCpuPercentOfOneCore: { withoutMonitor: +without.toFixed(3), withMonitor: +withMonitor.toFixed(3), monitorCost: +(withMonitor - without).toFixed(3) },
}));
