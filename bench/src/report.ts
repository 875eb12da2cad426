// Turns run results into the markdown report (bench/results/latest.md) and its rows.
import type { BootResult } from './boot.js';
import { PHASES, type Phase, type RunResult } from './run.js';

export interface Machine {
  date: string;
  cpus: number;
  cpuModel: string;
  memoryGB: number;
  kernel: string;
  node: string;
  pm2: string;
  command: string;
  note?: string;
}

export interface SteadyResult {
  label: string;
  /** ok responses per second, one figure per round. */
  rounds: number[];
  idleCpu: number[];
  p99: number;
  rssMB: number;
  monitor: boolean;
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const ms = (n: number | null | undefined) => (n === null || n === undefined ? '–' : n.toFixed(0));
const pct = (share: number) => `${(share * 100).toFixed(2)} %`;
const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
/** The middle value (the lower one of an even count). */
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;

function kinds(failures: Record<string, number>): string {
  const list = Object.entries(failures).sort((a, b) => b[1] - a[1]);
  return list.length ? list.map(([kind, n]) => `${kind}: ${n}`).join(', ') : '–';
}

export const RUN_HEADER = [
  'scenario', 'manager', 'requests', 'failed', 'failures by kind', 'reloads ok', 'reload ms (avg / max)', 'ready ms (max)', 'drain ms (max)',
  'reload ÷ boot delay', 'p99 steady ms', 'p99 reloading ms', 'p99 ×', 'old pid after replacement ready', 'old pid after reload done',
  'peak RSS MB (workers)', 'leftover processes',
];

/** One markdown table row for a run. */
export function runRow(r: RunResult): string {
  const durations = r.reloads.map((x) => x.durationMs).filter((d): d is number => d !== null);
  const okReloads = r.reloads.filter((x) => x.ok).length;
  const ratio = r.bootDelay > 0 && durations.length ? (avg(durations) / r.bootDelay).toFixed(2) : '–';
  const p99x = r.latency.steady.p99 > 0 && r.latency.reload.count > 0 ? (r.latency.reload.p99 / r.latency.steady.p99).toFixed(2) : '–';
  const peak = r.reloads.reduce((m, x) => (x.peakRss > m.peakRss ? x : m), { peakRss: 0, peakWorkers: 0 });
  const cells = [
    r.scenario, r.label, String(r.total), r.failed === 0 ? '**0**' : `**${r.failed}**`, kinds(r.failures), `${okReloads}/${r.reloads.length}`,
    durations.length ? `${ms(avg(durations))} / ${ms(Math.max(...durations))}` : '–',
    ms(maxOf(r.reloads.map((x) => x.readyMs))), ms(maxOf(r.reloads.map((x) => x.drainMs))), ratio,
    r.latency.steady.p99.toFixed(1), r.latency.reload.count ? r.latency.reload.p99.toFixed(1) : '–', p99x,
    String(sum(r.reloads.map((x) => x.oldAfterReady))), String(sum(r.reloads.map((x) => x.oldAfterDone ?? 0))),
    peak.peakRss ? `${mb(peak.peakRss)} (${peak.peakWorkers.toFixed(1)})` : '–', String(r.leftovers.length),
  ];
  return `| ${cells.join(' | ')} |`;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
function maxOf(xs: (number | null)[]): number | null {
  const values = xs.filter((x): x is number => x !== null);
  return values.length ? Math.max(...values) : null;
}

const PHASE_LABEL: Record<Phase, string> = {
  fork: 'signal → fork', online: 'fork → online', listening: 'online → listening', ready: 'listening → ready',
  swap: 'ready → swap', drain: 'swap → drained', exit: 'drained → exit',
};
const medianOr = (xs: number[]) => (xs.length ? ms(median(xs)) : '–');
const mbOf = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

export const BREAKDOWN_HEADER = ['scenario', 'manager', 'reloads', ...PHASES.map((p) => PHASE_LABEL[p]), 'reload', 'first new response'];

/** Medians over every slot of every reload of the runs of one scenario and manager (ms); `first new response` is one figure per reload. */
export function breakdownRow(group: RunResult[]): string {
  const reloads = group.flatMap((r) => r.reloads);
  const phase = (p: Phase) => medianOr(reloads.flatMap((x) => x.breakdown[p] ?? []));
  const firstNew = reloads.map((x) => x.breakdown.firstNew).filter((x): x is number => x !== undefined);
  const durations = reloads.map((x) => x.durationMs).filter((d): d is number => d !== null);
  const runs = group.length > 1 ? ` (${group.length} runs)` : '';
  return `| ${[group[0]!.scenario, group[0]!.label, `${reloads.length}${runs}`, ...PHASES.map(phase), medianOr(durations), medianOr(firstNew)].join(' | ')} |`;
}

/** Runs grouped by scenario and manager, in the order they first ran. */
function byScenarioAndManager(runs: RunResult[]): RunResult[][] {
  const groups = new Map<string, RunResult[]>();
  for (const r of runs) {
    const key = `${r.scenario}\0${r.label}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()];
}

const firstNewOf = (r: RunResult) => r.reloads.map((x) => x.breakdown.firstNew).filter((x): x is number => x !== undefined);

export const BOOT_HEADER = ['variant', 'reloads', 'fork → online', 'online → listening', 'listening → ready', 'fork → ready', 'reload', 'CPU ms per worker', 'RSS per worker MB', 'root RSS MB', "root's other children RSS MB"];

/** Medians: steps in ms per new worker, reload in ms, RSS in MB. */
export function bootRow(b: BootResult): string {
  const phase = (p: Phase) => medianOr(b.phases[p] ?? []);
  const rss = (xs: number[]) => (xs.length ? mbOf(median(xs)) : '–');
  return `| ${[b.label, String(b.reloads), phase('online'), phase('listening'), phase('ready'), medianOr(b.forkReady), medianOr(b.reloadMs), medianOr(b.cpuMs), rss(b.rss.worker), rss(b.rss.root), rss(b.rss.other)].join(' | ')} |`;
}

export const STEADY_HEADER = ['manager', 'req/s (median of rounds)', 'rounds', '× naive cluster', 'p99 ms', 'tree RSS MB', 'master idle CPU (% of a core)'];

export function steadyRow(s: SteadyResult, naive?: SteadyResult): string {
  const ratio = naive ? (median(s.rounds) / median(naive.rounds)).toFixed(3) : '–';
  const cpu = s.idleCpu.length ? `${pct(avg(s.idleCpu))}${s.monitor ? ' (monitor on)' : ''}` : '–';
  return `| ${[s.label, median(s.rounds).toFixed(0), s.rounds.map((x) => x.toFixed(0)).join(', '), ratio, s.p99.toFixed(1), String(s.rssMB), cpu].join(' | ')} |`;
}

export const table = (header: string[], rows: string[]) => [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows].join('\n');

interface Goal {
  goal: string;
  measured: string;
  met: boolean | undefined;
}

/** The issue's goals for master-process, judged on this run's figures. */
export function goals(runs: RunResult[], steady: SteadyResult[], workers: number, boot: BootResult[] = []): Goal[] {
  const mp = runs.filter((r) => r.kind === 'master-process');
  const out: Goal[] = [];
  if (mp.length) {
    const failed = mp.filter((r) => r.failed > 0);
    out.push({
      goal: '0 failed requests in every scenario (keep-alive on and off)',
      measured: failed.length ? failed.map((r) => `${r.scenario} / ${r.label}: ${r.failed} (${kinds(r.failures)})`).join('; ') : `0 failed of ${sum(mp.map((r) => r.total))} requests over ${sum(mp.map((r) => r.reloads.length))} reloads`,
      met: failed.length === 0,
    });
    const stale = sum(mp.flatMap((r) => r.reloads.map((x) => x.oldAfterDone ?? 0)));
    const staleReady = sum(mp.flatMap((r) => r.reloads.map((x) => x.oldAfterReady)));
    out.push({
      goal: 'no old pid answers a request sent after the reload was reported done (`reload:done`)',
      measured: `${stale} such responses; (informational) ${staleReady} answers from old pids to requests sent after their slot's replacement was ready, i.e. during the drain`,
      met: stale === 0,
    });
    const drains = mp.flatMap((r) => r.reloads.map((x) => x.drainMs)).filter((d): d is number => d !== null);
    const slow = mp.filter((r) => r.scenario === 'slow');
    const ratios = slow.flatMap((r) => r.reloads.map((x) => (x.durationMs !== null ? x.durationMs / r.bootDelay : NaN))).filter((x) => !Number.isNaN(x));
    const over = drains.filter((d) => d > 250).length;
    const overBoot = slow.flatMap((r) => r.reloads.map((x) => (x.durationMs !== null ? x.durationMs - r.bootDelay : NaN))).filter((x) => !Number.isNaN(x));
    out.push({
      goal: 'reload duration within boot + 250 ms of drain (last replacement ready → every old worker gone ≤ 250 ms)',
      measured: `drain max ${ms(maxOf(drains))} ms, avg ${ms(avg(drains))} ms; over 250 ms in ${over} of ${drains.length} reloads` +
        (ratios.length ? `; slow scenario: reload ÷ boot delay avg ${avg(ratios).toFixed(2)}, max ${Math.max(...ratios).toFixed(2)} (reload − boot delay max ${ms(Math.max(...overBoot))} ms, Node's own start-up included)` : ''),
      met: drains.length ? over === 0 : undefined,
    });
    const p99 = mp.filter((r) => r.latency.reload.count > 0 && r.latency.steady.p99 > 0).map((r) => ({ r, x: r.latency.reload.p99 / r.latency.steady.p99 }));
    const worst = [...p99].sort((a, b) => b.x - a.x)[0];
    const within = p99.filter((p) => p.x <= 1.5);
    out.push({
      goal: 'p99 latency during reloads ≤ 1.5 × steady-state p99',
      measured: worst
        ? `within in ${within.length} of ${p99.length} runs (${within.map((p) => `${p.r.scenario} / ${p.r.label}`).join(', ') || 'none'}); median ratio ${median(p99.map((p) => p.x)).toFixed(2)}×; worst ${worst.x.toFixed(2)}× (${worst.r.scenario} / ${worst.r.label}: ${worst.r.latency.reload.p99.toFixed(1)} ms vs ${worst.r.latency.steady.p99.toFixed(1)} ms)`
        : '–',
      met: worst ? worst.x <= 1.5 : undefined,
    });
  }
  // Judged where the two ran side by side, at the same instants: the first-response scenario (the medians of
  // every reload of every round). Other scenarios run one manager at a time: see the breakdown table.
  const pairs = ['first-response'].flatMap((scenario) => {
    const firstNew = (match: (r: RunResult) => boolean) => runs.filter((r) => r.scenario === scenario && match(r)).flatMap(firstNewOf);
    const mine = firstNew((r) => r.kind === 'master-process' && r.label === 'master-process');
    const theirs = firstNew((r) => r.kind === 'naive');
    return mine.length && theirs.length ? [{ scenario, mine: median(mine), theirs: median(theirs), n: [mine.length, theirs.length] }] : [];
  });
  if (pairs.length) {
    out.push({
      goal: 'time to first response from new code ≤ 1.1 × the naive cluster\'s (first-response scenario: a short boot, keep-alive load, the two side by side; medians of the reloads)',
      measured: pairs.map((p) => `${p.scenario}: ${ms(p.mine)} vs ${ms(p.theirs)} ms (${(p.mine / p.theirs).toFixed(2)}×, ${p.n[0]} and ${p.n[1]} reloads)`).join('; '),
      met: pairs.every((p) => p.mine <= 1.1 * p.theirs),
    });
  }
  // A plain worker: the naive cluster's, the same app with no preload at all.
  const plain = boot.find((b) => b.kind === 'naive');
  const full = boot.find((b) => b.label.includes('defaults'));
  if (plain?.rss.worker.length && full?.rss.worker.length) {
    const extra = (median(full.rss.worker) - median(plain.rss.worker)) / 2 ** 20;
    const reaper = full.rss.other.length ? median(full.rss.other) / 2 ** 20 : 0;
    out.push({
      goal: 'RSS per worker with the preload (defaults: drain + watchdog) ≤ 2 MB over a plain worker (the naive cluster\'s; boot scenario, medians)',
      measured: `${extra >= 0 ? '+' : ''}${extra.toFixed(1)} MB (${mbOf(median(full.rss.worker))} vs ${mbOf(median(plain.rss.worker))} MB); the watchdog's one reaper per master: ${reaper.toFixed(1)} MB`,
      met: extra <= 2,
    });
  }
  const naive = steady.find((s) => s.label.startsWith('naive'));
  const mpSteady = steady.find((s) => s.label.startsWith('master-process'));
  if (naive && mpSteady) {
    const x = median(mpSteady.rounds) / median(naive.rounds);
    out.push({ goal: 'steady-state throughput ≥ 0.97 × the naive cluster (medians of interleaved rounds)', measured: `${x.toFixed(3)}× (${median(mpSteady.rounds).toFixed(0)} vs ${median(naive.rounds).toFixed(0)} req/s)`, met: x >= 0.97 });
  }
  if (mpSteady?.idleCpu.length) {
    const cpu = avg(mpSteady.idleCpu);
    out.push({ goal: `master's own CPU < 1 % of a core while idle${mpSteady.monitor ? ' (monitor plugin on)' : ' (monitor plugin NOT loaded: not built)'}`, measured: pct(cpu), met: cpu < 0.01 });
  }
  const c1 = runs.filter((r) => r.kind === 'master-process' && r.concurrency === 1);
  if (c1.length) {
    const peak = Math.max(...c1.flatMap((r) => r.reloads.map((x) => x.peakWorkers)));
    out.push({ goal: `reload.concurrency 1: peak tree RSS during a reload ≤ (W + 1) = ${workers + 1} workers' worth`, measured: `${peak.toFixed(2)} workers' worth (tree RSS minus the master's, over one steady worker's RSS)`, met: peak <= workers + 1 });
  }
  return out;
}

export function markdown(machine: Machine, settings: string, runs: RunResult[], steady: SteadyResult[], workers: number, boot: BootResult[] = []): string {
  const lines: string[] = [];
  lines.push('# Reload under load: master-process vs PM2 vs a naive cluster', '');
  lines.push(`- Date: ${machine.date}`);
  lines.push(`- Machine: ${machine.cpus} CPU(s) (${machine.cpuModel}), ${machine.memoryGB} GB RAM, Linux ${machine.kernel}; Node ${machine.node}; PM2 ${machine.pm2}`);
  lines.push(`- Command: \`${machine.command}\``);
  lines.push(`- Settings: ${settings}`);
  if (machine.note) lines.push(`- Note: ${machine.note}`);
  lines.push('', 'Columns are explained in [bench/README.md](../README.md). Figures are measured, not asserted.', '');
  const goalList = goals(runs, steady, workers, boot);
  if (goalList.length) {
    lines.push('## Goals (master-process)', '');
    lines.push(table(['goal', 'measured', 'met'], goalList.map((g) => `| ${g.goal} | ${g.measured} | ${g.met === undefined ? '–' : g.met ? 'yes' : '**no**'} |`)), '');
  }
  if (runs.length) {
    lines.push('## Reloads under load', '');
    lines.push(table(RUN_HEADER, runs.map(runRow)), '');
  }
  if (runs.length) {
    lines.push('## Reload breakdown (medians, ms)', '');
    lines.push('Per slot: the signal → the new worker forked → `online` (its Node process is up) → `listening` → ready → the swap (the old worker leaves rotation) → the old worker drained (its `disconnect`) → the old worker exited. The naive cluster kills the old workers at the signal (no swap, no drain: its `drained → exit` is kill → exit). `reload`: the signal → every old worker gone; `first new response`: the signal → the first response the load client got from a new pid.', '');
    lines.push(table(BREAKDOWN_HEADER, byScenarioAndManager(runs).map(breakdownRow)), '');
  }
  if (boot.length) {
    lines.push('## Worker boot, no load (medians)', '');
    lines.push('Every variant runs at the same time and is reloaded in turn. Steps in ms per new worker (wall clock: on a busy machine they follow its load); CPU time (user + system, every thread, 10 ms ticks) and RSS (VmRSS from /proc) of each new worker half a second after its reload; the root\'s other children are the watchdog\'s reaper.', '');
    lines.push(table(BOOT_HEADER, boot.map(bootRow)), '');
    const left = boot.filter((b) => b.leftovers.length);
    if (left.length) lines.push(`Processes left after stop: ${left.map((b) => `${b.label}: ${b.leftovers.join(' ')}`).join('; ')}`, '');
  }
  if (steady.length) {
    const naive = steady.find((s) => s.label.startsWith('naive'));
    lines.push('## Steady state (no reload)', '');
    lines.push(table(STEADY_HEADER, steady.map((s) => steadyRow(s, naive))), '');
  }
  const failing = runs.filter((r) => r.failed > 0);
  if (failing.length) {
    lines.push('## Failed requests in detail', '', 'Per run and reload: failure kinds and when they happened, in ms after that reload was triggered.', '');
    const rows = failing.flatMap((r) => r.failureGroups.map((g) => `| ${r.scenario} | ${r.label} | ${g.reload === 0 ? 'before any reload' : `#${g.reload}`} | ${kinds(g.kinds)} | ${ms(g.firstAfterMs)} | ${ms(g.lastAfterMs)} |`));
    lines.push(table(['scenario', 'manager', 'reload', 'failures', 'first (ms after signal)', 'last (ms after signal)'], rows), '');
  }
  const broken = runs.filter((r) => r.reloads.some((x) => !x.ok) || r.scenario === 'failing-boot');
  if (broken.length) {
    lines.push('## A new generation that fails to boot', '');
    const rows = broken.map((r) => {
      const x = r.reloads[0];
      const end = Object.keys(r.servingAtEnd).map(Number);
      const served = end.length === 0 ? 'nobody (every request failed)' : end.every((p) => x?.oldPids.includes(p)) ? `the old generation (${end.join(', ')})` : `pids ${end.join(', ')}`;
      return `| ${r.label} | ${x ? (x.ok ? 'reported success' : `reported failure: ${x.error ?? ''}`) : '–'} | ${r.failed} | ${served} |`;
    });
    lines.push(table(['manager', 'reload outcome', 'failed requests', 'served in the last second'], rows), '');
  }
  return lines.join('\n');
}
