// The master-restart scenario: the master itself goes away and comes back under load, 5 times (SIGTERM as by
// `systemctl restart`, the version guard's exit 1 after an upgrade, SIGKILL as by the OOM killer, SIGTERM,
// exit 1), each time restarted at once as by Restart=always. Two set-ups side by side:
// - `bound`: the master binds the port itself; between one master's exit and the next one's listen, nothing does;
// - `activated`: systemd holds the socket (.socket unit; here systemd-socket-activate and testkit's socket
//   holder) and plugin-systemd has the workers serve it; meanwhile connections wait in the kernel's backlog.
// Besides the main load (5 ms requests), a few keep-alive connections send 300 ms requests, so that requests are
// in flight at every restart: at the SIGKILL they are the orphaned workers' to finish (the core's orphan grace).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  fixtures, freePort, isAlive, runLoad, sleep, socketActivationUnavailable, startActivatedMaster, startRestartedMaster, summarize, tempDir, waitUntil,
  type LatencySummary, type LoadResult, type MasterHandle,
} from '@master-process/testkit';
import { PLUGINS_CWD } from './faults-kit.js';
import { probe } from './managers.js';

export type RestartSetup = 'bound' | 'activated';
const RESTARTS = ['SIGTERM', 'exit 1 (version guard)', 'SIGKILL', 'SIGTERM', 'exit 1 (version guard)'] as const;
const SLOW_MS = 300;

export interface RestartOptions {
  setup: RestartSetup;
  workers: number;
  connections: number;
  /** Keep-alive connections sending 300 ms requests beside the main load (default 4). */
  slowConnections?: number;
  /** Load after the last restart, before the run ends (ms). */
  settleMs?: number;
  verbose?: boolean;
}

export interface RestartResult {
  scenario: 'master-restart';
  setup: RestartSetup;
  label: string;
  workers: number;
  connections: number;
  slowConnections: number;
  total: number;
  ok: number;
  failed: number;
  failures: Record<string, number>;
  refused: number;
  /** ECONNRESET and socket hang up. */
  reset: number;
  /** Per restart: how, ms from the old master's exit until the new one was ready, failures in that window. */
  restarts: { how: string; exitedBy: string; gapMs: number; failed: number }[];
  latency: LatencySummary;
  /** Pids of the run (holder, masters, workers) still alive after it. */
  leftovers: number[];
  startedAt: string;
}

const starts = (handle: MasterHandle) => handle.appLines.filter((l) => l.app === 'holder-start');
const exits = (handle: MasterHandle) => handle.appLines.filter((l) => l.app === 'holder-exit');
const readyCount = (handle: MasterHandle) => handle.events.filter((e) => e.ev === 'started').length;

/** `onLoad` gets the load client's full record (every request), e.g. for the fault suite. */
export async function runRestarts(options: RestartOptions, onLoad?: (load: LoadResult) => void): Promise<RestartResult> {
  if (options.setup === 'activated') {
    const why = socketActivationUnavailable();
    if (why) throw new Error(`socket activation cannot run here: ${why}`);
  }
  const dir = tempDir('mp-bench-restart-');
  const manifest = join(dir.path, 'node_modules', 'bench-guarded', 'package.json');
  mkdirSync(join(manifest, '..'), { recursive: true });
  let version = 0;
  const bump = () => writeFileSync(manifest, JSON.stringify({ name: 'bench-guarded', version: `1.0.${version++}` }));
  bump();
  const port = await freePort();
  const spec = {
    options: { exec: fixtures.app, workers: options.workers, killTimeout: '3s' },
    plugins: [
      { package: '@master-process/plugin-systemd', export: 'systemd' },
      { package: '@master-process/plugin-version-guard', export: 'versionGuard', options: { packages: ['bench-guarded'], cwd: dir.path, on: 'change', settle: 100, interval: 100 } },
    ],
  };
  const env = { APP_REQUEST_DELAY: '5', PORT: String(port) };
  const handle = options.setup === 'activated'
    ? await startActivatedMaster(spec, { cwd: PLUGINS_CWD, listen: `127.0.0.1:${port}`, env, verbose: options.verbose })
    : startRestartedMaster(spec, { cwd: PLUGINS_CWD, env, verbose: options.verbose });
  const ready = (n: number) => handle.until(`master ${n} ready`, () => readyCount(handle) >= n, 90_000);
  // systemd-socket-activate starts the holder at the first connection (which waits in the backlog meanwhile).
  const first = options.setup === 'activated' ? probe(port, 60_000) : undefined;
  await ready(1);
  await first;
  const slowConnections = options.slowConnections ?? 4;
  const loads = [
    runLoad({ target: { port }, connections: options.connections, keepAlive: false, durationMs: 115_000, keepFailures: 1_000_000 }),
    ...(slowConnections > 0 ? [runLoad({ target: { port, path: `/slow?ms=${SLOW_MS}` }, connections: slowConnections, keepAlive: true, durationMs: 115_000, keepFailures: 1_000_000 })] : []),
  ];
  const startedAt = Date.now();
  const windows: { how: string; from: number; to: number }[] = [];
  try {
    for (const [k, how] of RESTARTS.entries()) {
      await sleep(1500);
      const master = starts(handle)[k]!.pid;
      const doomed = handle.events.filter((e) => e.ev === 'worker:fork' && e.t >= starts(handle)[k]!.t).map((e) => e.args![0].pid as number);
      const from = Date.now();
      if (how === 'SIGTERM' || how === 'SIGKILL') process.kill(master, how);
      else bump();
      await waitUntil(() => !isAlive(master) && doomed.every((pid) => !isAlive(pid)), 30_000, `master ${master} and its workers to be gone`);
      await ready(k + 2);
      windows.push({ how, from, to: Date.now() });
    }
    await sleep(options.settleMs ?? 1500);
  } finally {
    for (const load of loads) load.stop();
  }
  const [result, slow] = await Promise.all(loads.map((load) => load.done));
  onLoad?.(result!);
  if (slow) onLoad?.(slow);
  const all = slow ? [result!, slow] : [result!];
  const failures: Record<string, number> = {};
  for (const r of all) for (const [kind, n] of Object.entries(r.failures)) failures[kind] = (failures[kind] ?? 0) + n;
  handle.signal('SIGTERM');
  await Promise.race([handle.exited, sleep(20_000)]);
  const everyone = [handle.pid, ...handle.pids];
  await waitUntil(() => everyone.every((pid) => !isAlive(pid)), 10_000, 'every process of the run to be gone').catch(() => {});
  const leftovers = everyone.filter(isAlive);
  await handle.cleanup();
  dir.remove();

  const failureTimes = all.flatMap((r) => r.firstFailures);
  const byExit = exits(handle).map((e) => (e.signal ? String(e.signal) : `exit ${e.code}`));
  const restarts = windows.map((w, k) => {
    const exit = exits(handle)[k];
    const readyAt = handle.events.filter((e) => e.ev === 'started')[k + 1]?.t ?? w.to;
    return {
      how: w.how,
      exitedBy: byExit[k] ?? '?',
      gapMs: exit ? Math.max(0, readyAt - exit.t) : 0,
      failed: failureTimes.filter((f) => f.t >= w.from && f.t <= w.to + 1000).length,
    };
  });
  const reset = (failures.ECONNRESET ?? 0) + (failures['socket hang up'] ?? 0);
  // The main load's: the slow requests take 300 ms by design.
  const latencies = result!.samples.latency.filter((_, i) => result!.samples.pid[i]! > 0);
  return {
    scenario: 'master-restart',
    setup: options.setup,
    label: options.setup === 'activated' ? 'socket held by systemd (socket activation)' : 'port bound by the master',
    workers: options.workers,
    connections: options.connections,
    slowConnections,
    total: all.reduce((n, r) => n + r.total, 0),
    ok: all.reduce((n, r) => n + r.ok, 0),
    failed: all.reduce((n, r) => n + r.failed, 0),
    failures,
    refused: failures.ECONNREFUSED ?? 0,
    reset,
    restarts,
    latency: summarize(latencies),
    leftovers,
    startedAt: new Date(startedAt).toISOString(),
  };
}

export function restartSection(results: RestartResult[]): string {
  if (results.length === 0) return '';
  const head = ['set-up', 'requests', 'failed', 'refused', 'reset / hang up', 'failures by restart', 'max gap ms (exit → next master ready)', 'max latency ms'];
  const rows = results.map((r) => `| ${r.label} | ${r.total} | ${r.failed === 0 ? '**0**' : `**${r.failed}**`} | ${r.refused} | ${r.reset} | ${r.restarts.map((x) => `${x.how}: ${x.failed}`).join('; ')} | ${Math.max(0, ...r.restarts.map((x) => x.gapMs)).toFixed(0)} | ${r.latency.max.toFixed(0)} |`);
  return [
    '## Master restarts under load',
    '',
    `${RESTARTS.length} restarts of the master (${RESTARTS.join(', ')}), each restarted at once as by \`Restart=always\`; ${results[0]!.workers} workers, ${results[0]!.connections} connections with keep-alive off (every request a new connection), 5 ms per request, and ${results[0]!.slowConnections} keep-alive connections sending ${SLOW_MS} ms requests (some in flight at every restart). Max latency: of the 5 ms requests.`,
    '',
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows,
    '',
  ].join('\n');
}
