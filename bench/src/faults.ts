// `pnpm faults`: run every fault while the load client runs, and print the table
// (fault, requests, failed requests, outcome, leftovers). The same definitions are the tests in
// bench/test/faults.test.ts. Usage: faults [--markdown] [--json] [id...]   (ids such as 1a 3 8b)
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PLUGINS_CWD, runFault, type Fault, type FaultReport, type Leftovers } from './faults-kit.js';
import { pluginFaults } from './faults-plugins.js';
import { reloadFaults } from './faults-reload.js';
import { restartFaults } from './faults-restart.js';
import { workerFaults } from './faults-workers.js';

export const FAULTS: Fault[] = [...reloadFaults, ...workerFaults, ...pluginFaults, ...restartFaults];

/** The plugin packages a fault needs that have no build yet (they resolve through the umbrella package). */
export function missingPlugins(fault: Fault): string[] {
  return (fault.plugins ?? []).filter((name) => !existsSync(join(PLUGINS_CWD, 'node_modules', '@master-process', name, 'dist')));
}

export function leftoversText(l: Leftovers): string {
  const parts = [
    l.processes.length ? `processes ${l.processes.join(' ')}` : '',
    l.orphans.length ? `orphans ${l.orphans.join(' ')}` : '',
    l.sockets.length ? `sockets ${l.sockets.join(' ')}` : '',
    l.timers && l.timers !== 'n/a' ? `timers: ${l.timers}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'none';
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function markdownTable(reports: FaultReport[]): string {
  const rows = reports.map((r) =>
    `| ${r.id} ${cell(r.title)} | ${r.requests} | ${r.failed}${r.failed ? ` (${cell(Object.entries(r.failures).map(([k, v]) => `${k} ${v}`).join(', '))})` : ''} | ${cell(r.outcome)} | ${cell(leftoversText(r.leftovers))} |`,
  );
  return ['| Fault | Requests | Failed | Outcome | Leftovers |', '|---|---:|---:|---|---|', ...rows].join('\n');
}

function plainTable(reports: FaultReport[]): string {
  const rows = [['fault', 'requests', 'failed', 'outcome', 'leftovers'], ...reports.map((r) => [`${r.id} ${r.title}`, String(r.requests), String(r.failed), r.outcome, leftoversText(r.leftovers)])];
  const widths = [48, 8, 6, 80, 30];
  const clip = (s: string, w: number) => (s.length > w ? `${s.slice(0, w - 1)}…` : s.padEnd(w));
  return rows.map((row) => row.map((c, i) => clip(c, widths[i]!)).join('  ')).join('\n');
}

async function main(argv: string[]): Promise<void> {
  const ids = argv.filter((a) => !a.startsWith('--'));
  const chosen = FAULTS.filter((f) => ids.length === 0 || ids.some((id) => f.id === id || f.id.startsWith(id)));
  const reports: FaultReport[] = [];
  for (const fault of chosen) {
    const missing = missingPlugins(fault);
    if (missing.length) {
      process.stderr.write(`skip ${fault.id}: not built yet: ${missing.join(', ')} (run pnpm build)\n`);
      continue;
    }
    const began = Date.now();
    process.stderr.write(`fault ${fault.id}: ${fault.title} ...`);
    const report = await runFault(fault);
    reports.push(report);
    process.stderr.write(` ${((Date.now() - began) / 1000).toFixed(1)} s, ${report.outcome.split('. ')[0]}\n`);
    for (const c of report.checks.filter((c) => !c.ok)) process.stderr.write(`    ${c.gap ? 'differs' : 'FAILED'}: ${c.what}${c.detail ? ` — ${c.detail.split('\n')[0]}` : ''}\n`);
  }
  if (argv.includes('--json')) process.stdout.write(JSON.stringify(reports, null, 2) + '\n');
  else process.stdout.write((argv.includes('--markdown') ? markdownTable(reports) : plainTable(reports)) + '\n');
  process.exitCode = reports.some((r) => r.checks.some((c) => !c.ok && !c.gap)) ? 1 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
