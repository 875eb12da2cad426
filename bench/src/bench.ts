// The reload-under-load benchmark: every manager, every scenario, one run each, on the same fixture app
// and load. Prints one JSON line and one markdown row per run; writes results/latest.md and
// results/latest.jsonl. `node --import tsx src/bench.ts --help` lists the knobs.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runBoot, type BootResult, type BootVariant } from './boot.js';
import { benchDir, monitorEntry, type ManagerOptions } from './managers.js';
import { metricsSection, runMetrics, type MetricsResult, type ScrapeCost } from './metrics.js';
import { PROTOCOLS, protocolsMarkdown, runProtocol, type Protocol, type ProtocolResult, type ProtocolRunOptions } from './protocols.js';
import { bootRow, markdown, runRow, type Machine, type SteadyResult } from './report.js';
import { restartSection, runRestarts, type RestartResult } from './restart.js';
import { run, runTogether, type RunOptions, type RunResult } from './run.js';

const SCENARIOS = ['keep-alive', 'no-keep-alive', 'first-response', 'slow', 'concurrency-1', 'failing-boot', 'boot', 'master-restart', 'steady', 'metrics', ...PROTOCOLS] as const;
// `master-process-thread` (the watchdog as a thread in every worker, the design before issue 11 §5) runs only when asked for.
const MANAGERS = ['master-process', 'master-process-helper', 'pm2', 'naive', 'master-process-thread'] as const;
const DEFAULT_MANAGERS = MANAGERS.filter((id) => id !== 'master-process-thread');
const THREAD_PRELOAD = fileURLToPath(new URL('./watchdog-thread.cjs', import.meta.url));
type Scenario = (typeof SCENARIOS)[number];
type ManagerId = (typeof MANAGERS)[number];

const HELP = `Usage: node --import tsx src/bench.ts [options]   (or: pnpm --filter @master-process/bench bench -- [options])

  --quick                 a fast pass: 8 connections, 5 s runs, 2 reloads, 1 steady round
  --workers W             workers per manager (env BENCH_WORKERS, default 2)
  --connections C         concurrent connections of the load (env BENCH_CONNECTIONS, default 32)
  --duration S            seconds of load per run (env BENCH_DURATION, default 12)
  --reloads K             reloads per run, spaced evenly (env BENCH_RELOADS, default 4)
  --slow-duration S       seconds of load in the slow scenario (default 24)
  --boot-delay MS         boot delay in the slow scenario (default 2000)
  --request-delay MS      per-request delay in the slow scenario (default 50)
  --first-boot-delay MS   boot delay in the first-response scenario (default 300)
  --first-rounds N        rounds of the first-response scenario, its managers side by side (default 3)
  --boot-reloads N        reloads per variant in the boot scenario (no load; default 6)
  --steady-duration S     seconds of load per steady-state round (default 8)
  --steady-rounds N       steady-state rounds per manager, interleaved; the median counts (default 3)
  --protocol-clients N    WebSocket / SSE clients, HTTP/2 sessions in the websocket, sse, h2c scenarios (default 8)
  --idle S                seconds the master's idle CPU is measured, per steady round (default 4)
  --metrics-duration S    seconds of load per round of the metrics scenario (default 8)
  --metrics-rounds N      rounds of the metrics scenario, its variants interleaved; the median counts (default 5)
  --metrics-intervals a,b scrape intervals (ms) of the metrics scenario's scraped variants, beside one never scraped (default 1000,100)
  --scenarios a,b         subset of: ${SCENARIOS.join(', ')}
  --managers a,b          subset of: ${MANAGERS.join(', ')}
                          (default: all but master-process-thread, the former watchdog design, run only when named)
  --out DIR               where latest.md / latest.jsonl go (default bench/results)
  --note TEXT             a line for the report (e.g. "shared machine")
  --verbose               print the managers' output
`;

function settingsFromArgs(argv: string[]) {
  const { values } = parseArgs({
    // `pnpm bench -- --quick` passes the `--` on: it only separates pnpm's arguments from ours.
    args: argv.filter((arg) => arg !== '--'),
    options: {
      quick: { type: 'boolean' }, verbose: { type: 'boolean' }, help: { type: 'boolean' },
      workers: { type: 'string' }, connections: { type: 'string' }, duration: { type: 'string' }, reloads: { type: 'string' },
      'slow-duration': { type: 'string' }, 'boot-delay': { type: 'string' }, 'request-delay': { type: 'string' },
      'first-boot-delay': { type: 'string' }, 'first-rounds': { type: 'string' }, 'boot-reloads': { type: 'string' },
      'steady-duration': { type: 'string' }, 'steady-rounds': { type: 'string' }, idle: { type: 'string' }, 'protocol-clients': { type: 'string' },
      'metrics-duration': { type: 'string' }, 'metrics-rounds': { type: 'string' }, 'metrics-intervals': { type: 'string' },
      scenarios: { type: 'string' }, managers: { type: 'string' }, out: { type: 'string' }, note: { type: 'string' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const quick = values.quick ?? false;
  const number = (name: string, value: string | undefined, env: string, fallback: number, min = 0) => {
    const raw = value ?? process.env[env];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name}: expected a number ≥ ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  const list = <T extends string>(name: string, raw: string | undefined, accepted: readonly T[], fallback: readonly T[] = accepted): T[] => {
    if (!raw) return [...fallback];
    const picked = raw.split(',').map((s) => s.trim()).filter(Boolean);
    for (const p of picked) if (!accepted.includes(p as T)) throw new Error(`--${name}: unknown "${p}". Accepted: ${accepted.join(', ')}`);
    return picked as T[];
  };
  return {
    quick,
    verbose: values.verbose ?? false,
    workers: number('workers', values.workers, 'BENCH_WORKERS', 2, 1),
    connections: number('connections', values.connections, 'BENCH_CONNECTIONS', quick ? 8 : 32, 1),
    durationMs: number('duration', values.duration, 'BENCH_DURATION', quick ? 5 : 12, 1) * 1000,
    reloads: number('reloads', values.reloads, 'BENCH_RELOADS', quick ? 2 : 4, 0),
    slowDurationMs: number('slow-duration', values['slow-duration'], 'BENCH_SLOW_DURATION', quick ? 10 : 24, 1) * 1000,
    bootDelay: number('boot-delay', values['boot-delay'], 'BENCH_BOOT_DELAY', 2000),
    requestDelay: number('request-delay', values['request-delay'], 'BENCH_REQUEST_DELAY', 50),
    firstBootDelay: number('first-boot-delay', values['first-boot-delay'], 'BENCH_FIRST_BOOT_DELAY', 300),
    firstRounds: number('first-rounds', values['first-rounds'], 'BENCH_FIRST_ROUNDS', quick ? 1 : 3, 1),
    bootReloads: number('boot-reloads', values['boot-reloads'], 'BENCH_BOOT_RELOADS', quick ? 3 : 6, 1),
    steadyDurationMs: number('steady-duration', values['steady-duration'], 'BENCH_STEADY_DURATION', quick ? 3 : 8, 1) * 1000,
    steadyRounds: number('steady-rounds', values['steady-rounds'], 'BENCH_STEADY_ROUNDS', quick ? 1 : 3, 1),
    idleMs: number('idle', values.idle, 'BENCH_IDLE', quick ? 2 : 4, 0) * 1000,
    metricsDurationMs: number('metrics-duration', values['metrics-duration'], 'BENCH_METRICS_DURATION', quick ? 3 : 8, 1) * 1000,
    metricsRounds: number('metrics-rounds', values['metrics-rounds'], 'BENCH_METRICS_ROUNDS', quick ? 1 : 5, 1),
    metricsIntervalsMs: (values['metrics-intervals'] ?? process.env.BENCH_METRICS_INTERVALS ?? '1000,100').split(',').filter(Boolean).map((raw) => number('metrics-intervals', raw.trim(), '', 0, 10)),
    protocolClients: number('protocol-clients', values['protocol-clients'], 'BENCH_PROTOCOL_CLIENTS', 8, 1),
    scenarios: list('scenarios', values.scenarios ?? process.env.BENCH_SCENARIOS, SCENARIOS),
    managers: list('managers', values.managers ?? process.env.BENCH_MANAGERS, MANAGERS, DEFAULT_MANAGERS),
    out: values.out ?? join(benchDir, 'results'),
    note: values.note ?? process.env.BENCH_NOTE,
  };
}

type Settings = ReturnType<typeof settingsFromArgs>;

/** An argument as a shell would need it to re-run the exact command. */
const quote = (arg: string) => (/^[\w.,:=\/-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);

const pm2Version = (): string => {
  try {
    return JSON.parse(readFileSync(createRequire(import.meta.url).resolve('pm2/package.json'), 'utf8')).version;
  } catch {
    return 'not installed';
  }
};

function label(id: ManagerId | 'master-process-c1'): string {
  switch (id) {
    case 'master-process': return 'master-process';
    case 'master-process-helper': return 'master-process + drain helper';
    case 'master-process-thread': return 'master-process, a watchdog thread per worker (the former design)';
    case 'master-process-c1': return 'master-process, reload.concurrency 1';
    case 'pm2': return `PM2 ${pm2Version()} cluster, pm2 reload`;
    case 'naive': return 'naive cluster (kill + re-fork)';
  }
}

function managerOptions(id: ManagerId | 'master-process-c1', s: Settings, app: ManagerOptions['app']): Omit<ManagerOptions, 'port' | 'tmp'> {
  const base = { workers: s.workers, app, verbose: s.verbose };
  switch (id) {
    case 'master-process': return { ...base, kind: 'master-process' };
    case 'master-process-helper': return { ...base, kind: 'master-process', app: { ...app, helper: true } };
    // Drain on, reaper off, and in every worker the thread the watchdog used to be.
    case 'master-process-thread': return { ...base, kind: 'master-process', masterOptions: { watchdog: false, execArgv: ['--require', THREAD_PRELOAD] } };
    case 'master-process-c1': return { ...base, kind: 'master-process', concurrency: 1 };
    case 'pm2': return { ...base, kind: 'pm2' };
    case 'naive': return { ...base, kind: 'naive' };
  }
}

/** The runs of the matrix, in order; the runs of one group run at the same time (side by side). */
function plan(s: Settings): RunOptions[][] {
  const groups: RunOptions[][] = [];
  const common = { connections: s.connections, reloads: s.reloads, durationMs: s.durationMs };
  const options = (scenario: Scenario, id: ManagerId | 'master-process-c1', app: ManagerOptions['app'], extra: Partial<RunOptions>): RunOptions =>
    ({ scenario, label: label(id), manager: managerOptions(id, s, app), keepAlive: true, ...common, ...extra });
  const add = (scenario: Scenario, ids: (ManagerId | 'master-process-c1')[], app: ManagerOptions['app'], extra: Partial<RunOptions> = {}) => {
    for (const id of ids) groups.push([options(scenario, id, app, extra)]);
  };
  const all = s.managers;
  const mp = s.managers.includes('master-process');
  for (const scenario of s.scenarios) {
    switch (scenario) {
      case 'keep-alive':
        add(scenario, all, {});
        break;
      case 'no-keep-alive':
        add(scenario, all, {}, { keepAlive: false });
        break;
      case 'first-response': {
        // The issue's setup for "time to first response from new code": a short boot, keep-alive load. The
        // managers run at the same time, each with its own load, and reload at the same instants: on a
        // shared machine every one of them sees the same moments. (PM2, one worker at a time, is left out.)
        const ids = all.filter((id) => id === 'master-process' || id === 'master-process-thread' || id === 'naive');
        for (let round = 0; round < s.firstRounds && ids.length; round++) groups.push(ids.map((id) => options(scenario, id, { bootDelay: s.firstBootDelay }, {})));
        break;
      }
      case 'slow':
        add(scenario, all, { bootDelay: s.bootDelay, requestDelay: s.requestDelay }, { durationMs: s.slowDurationMs, warmupMs: 1000 });
        break;
      case 'concurrency-1':
        // The default (all slots at once) against one slot at a time, with a boot delay so both overlap.
        if (mp) add(scenario, ['master-process', 'master-process-c1'], { bootDelay: 500 });
        break;
      case 'failing-boot':
        // One reload, to a version that throws at boot, half-way through; long enough after it to see
        // what is left serving once PM2's listen_timeout (3 s per worker) has run out.
        add(scenario, all.filter((id) => id !== 'master-process-helper'), {}, { reloads: 1, failingBoot: true, durationMs: Math.max(s.durationMs, s.quick ? 12_000 : 20_000) });
        break;
      case 'master-restart':
      case 'boot':
      case 'steady':
      case 'metrics':
      case 'websocket':
      case 'sse':
      case 'h2c':
        break;
    }
  }
  return groups;
}

/** The long-lived-connection runs: master-process (for WebSocket with each recipe) and PM2, on the same app. */
function protocolPlan(s: Settings): ProtocolRunOptions[] {
  const runs: ProtocolRunOptions[] = [];
  const common = { clients: s.protocolClients, reloads: s.reloads, pauseMs: 1000 };
  for (const protocol of s.scenarios.filter((x): x is Protocol => (PROTOCOLS as readonly string[]).includes(x))) {
    const rows: [ManagerId, string, Record<string, string>][] = [];
    if (s.managers.includes('master-process')) {
      if (protocol === 'websocket') {
        rows.push(['master-process', 'master-process, app closes with 1001 on onRetiring()', { WS_CLOSE: 'retiring' }]);
        rows.push(['master-process', 'master-process, app closes with 1001 on SIGTERM', { WS_CLOSE: 'sigterm' }]);
      } else rows.push(['master-process', 'master-process', {}]);
    }
    // PM2 has no retiring notification: the app closes with 1001 on its stop signal (SIGINT).
    if (s.managers.includes('pm2')) rows.push(['pm2', `${label('pm2')}${protocol === 'websocket' ? ', app closes with 1001 on SIGINT' : ''}`, protocol === 'websocket' ? { WS_CLOSE: 'sigterm' } : {}]);
    for (const [id, name, env] of rows) runs.push({ protocol, label: name, manager: managerOptions(id, s, { env }), ...common });
  }
  return runs;
}

/** The boot scenario's variants: the naive cluster (plain workers: no preload), then master-process with less and more of its worker side. */
function bootVariants(s: Settings): BootVariant[] {
  const base = { workers: s.workers, app: {}, verbose: s.verbose };
  const variants: BootVariant[] = [];
  if (s.managers.includes('naive')) variants.push({ label: label('naive'), manager: { ...base, kind: 'naive' } });
  if (s.managers.includes('master-process')) {
    variants.push(
      { label: 'master-process, drain: false, watchdog: false', manager: { ...base, kind: 'master-process', masterOptions: { drain: false, watchdog: false } } },
      { label: 'master-process, drain only (watchdog: false)', manager: { ...base, kind: 'master-process', masterOptions: { watchdog: false } } },
      { label: 'master-process, defaults (drain + watchdog)', manager: { ...base, kind: 'master-process' } },
      // The former design, for comparison: a watchdog thread in every worker (drain on, reaper off).
      { label: label('master-process-thread'), manager: managerOptions('master-process-thread', s, {}) },
    );
  }
  return variants;
}

async function steadyRuns(s: Settings, emit: (r: RunResult) => void): Promise<SteadyResult[]> {
  // The naive cluster is the reference; rounds are interleaved so drift on a shared machine hits all alike.
  const ids = (['naive', 'master-process', 'pm2'] as const).filter((id) => s.managers.includes(id));
  const monitor = monitorEntry() !== undefined;
  const results = new Map<string, SteadyResult>();
  for (let round = 0; round < s.steadyRounds; round++) {
    for (const id of ids) {
      const manager = managerOptions(id, s, {});
      // master-process with the monitor plugin sampling from the start (grace 0), as a production master would.
      if (id === 'master-process' && monitor) manager.monitor = { grace: 0 };
      const r = await run({ scenario: 'steady', label: label(id), manager, connections: s.connections, keepAlive: true, durationMs: s.steadyDurationMs, reloads: 0, idleMs: s.idleMs || undefined });
      emit(r);
      const entry = results.get(id) ?? { label: label(id), rounds: [], idleCpu: [], p99: 0, rssMB: 0, monitor: id === 'master-process' && monitor };
      entry.rounds.push(r.throughput);
      if (r.idleCpu !== undefined) entry.idleCpu.push(r.idleCpu);
      entry.p99 = Math.max(entry.p99, r.latency.steady.p99);
      entry.rssMB = Math.round(r.rss.steady / 2 ** 20);
      results.set(id, entry);
    }
  }
  return [...results.values()];
}

async function main(): Promise<void> {
  const s = settingsFromArgs(process.argv.slice(2));
  const startedAt = Date.now();
  mkdirSync(s.out, { recursive: true });
  const jsonl: string[] = [];
  const runs: RunResult[] = [];
  const errors: string[] = [];
  const emit = (r: RunResult) => {
    const line = JSON.stringify(r);
    jsonl.push(line);
    process.stdout.write(`${line}\n`);
    if (r.scenario !== 'steady' && r.scenario !== 'metrics') process.stdout.write(`${runRow(r)}\n`);
  };
  for (const group of plan(s)) {
    const name = `${group[0]!.scenario} / ${group.map((o) => o.label).join(' + ')}`;
    process.stderr.write(`bench: ${name}${group.length > 1 ? ' (at the same time)' : ''} ...\n`);
    try {
      for (const r of await runTogether(group)) {
        runs.push(r);
        emit(r);
      }
    } catch (error) {
      const text = `${name}: ${(error as Error).message}`;
      errors.push(text);
      process.stderr.write(`bench: run failed: ${text}\n`);
    }
  }
  const protocolResults: ProtocolResult[] = [];
  for (const options of protocolPlan(s)) {
    process.stderr.write(`bench: ${options.protocol} / ${options.label} ...\n`);
    try {
      const r = await runProtocol(options);
      protocolResults.push(r);
      jsonl.push(JSON.stringify(r));
      process.stdout.write(`${JSON.stringify(r)}\n`);
    } catch (error) {
      const text = `${options.protocol} / ${options.label}: ${(error as Error).message}`;
      errors.push(text);
      process.stderr.write(`bench: run failed: ${text}\n`);
    }
  }
  // Master restarts: master-process only (PM2 and the naive cluster have nothing like socket activation).
  const restarts: RestartResult[] = [];
  if (s.scenarios.includes('master-restart') && s.managers.includes('master-process')) {
    for (const setup of ['bound', 'activated'] as const) {
      process.stderr.write(`bench: master-restart / ${setup} ...\n`);
      try {
        const r = await runRestarts({ setup, workers: s.workers, connections: s.connections, verbose: s.verbose });
        restarts.push(r);
        jsonl.push(JSON.stringify(r));
        process.stdout.write(`${JSON.stringify(r)}\n`);
      } catch (error) {
        const text = `master-restart / ${setup}: ${(error as Error).message}`;
        errors.push(text);
        process.stderr.write(`bench: run failed: ${text}\n`);
      }
    }
  }
  let boot: BootResult[] = [];
  if (s.scenarios.includes('boot') && bootVariants(s).length) {
    process.stderr.write('bench: boot (no load) ...\n');
    try {
      boot = await runBoot(bootVariants(s), s.bootReloads);
      for (const b of boot) {
        jsonl.push(JSON.stringify({ scenario: 'boot', ...b }));
        process.stdout.write(`${bootRow(b)}\n`);
      }
    } catch (error) {
      errors.push(`boot: ${(error as Error).message}`);
    }
  }
  let steady: SteadyResult[] = [];
  if (s.scenarios.includes('steady')) {
    process.stderr.write('bench: steady state ...\n');
    try {
      steady = await steadyRuns(s, emit);
    } catch (error) {
      errors.push(`steady: ${(error as Error).message}`);
    }
  }
  // The metrics plugin's cost: master-process only, its variants interleaved.
  let metricsResults: MetricsResult[] = [];
  let scrapeCost: ScrapeCost | undefined;
  if (s.scenarios.includes('metrics') && s.managers.includes('master-process')) {
    process.stderr.write('bench: metrics scrape overhead ...\n');
    try {
      const measured = await runMetrics({ workers: s.workers, connections: s.connections, durationMs: s.metricsDurationMs, rounds: s.metricsRounds, intervalsMs: s.metricsIntervalsMs, verbose: s.verbose }, emit);
      metricsResults = measured.variants;
      scrapeCost = measured.cost;
      for (const m of [...metricsResults, scrapeCost]) jsonl.push(JSON.stringify(m));
    } catch (error) {
      errors.push(`metrics: ${(error as Error).message}`);
    }
  }
  const machine: Machine = {
    date: new Date(startedAt).toISOString(),
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    pm2: pm2Version(),
    command: `cd bench && node --import tsx src/bench.ts ${process.argv.slice(2).map(quote).join(' ')}`.trim(),
    ...(s.note ? { note: s.note } : {}),
  };
  const settings = `${s.workers} workers, ${s.connections} connections, ${s.durationMs / 1000} s per run, ${s.reloads} reloads per run; first-response: ${s.firstBootDelay} ms boot, ${s.firstRounds} round(s) side by side; slow: ${s.bootDelay} ms boot + ${s.requestDelay} ms per request over ${s.slowDurationMs / 1000} s; boot: ${s.bootReloads} reloads per variant, no load; steady: ${s.steadyRounds} round(s) of ${s.steadyDurationMs / 1000} s, idle CPU over ${s.idleMs / 1000} s; metrics: ${s.metricsRounds} round(s) of ${s.metricsDurationMs / 1000} s, scraped every ${s.metricsIntervalsMs.join(', ') || '–'} ms or never; total ${((Date.now() - startedAt) / 1000).toFixed(0)} s`;
  let report = markdown(machine, settings, runs, steady, s.workers, boot);
  if (protocolResults.length) {
    report += `\n${protocolsMarkdown(protocolResults, `${s.workers} workers, ${s.protocolClients} clients (HTTP/2: sessions of 4 concurrent streams), ${s.reloads} reloads one after the other, 1 s apart`)}\n`;
  }
  if (restarts.length) report += `\n${restartSection(restarts)}`;
  if (metricsResults.length) {
    report += `\n${metricsSection(metricsResults, scrapeCost, `${s.workers} workers, ${s.connections} keep-alive connections, ${s.metricsRounds} round(s) of ${s.metricsDurationMs / 1000} s per variant`)}`;
  }
  if (errors.length) report += `\n## Runs that did not complete\n\n${errors.map((e) => `- ${e}`).join('\n')}\n`;
  writeFileSync(join(s.out, 'latest.md'), `${report}\n`);
  writeFileSync(join(s.out, 'latest.jsonl'), `${jsonl.join('\n')}\n`);
  process.stderr.write(`bench: done in ${((Date.now() - startedAt) / 1000).toFixed(0)} s; wrote ${join(s.out, 'latest.md')}\n`);
  if (errors.length) process.exitCode = 1;
}

await main();
