#!/usr/bin/env node
// `pnpm test`: every package's tests through turbo (builds first; two packages at a time, since most of a suite's
// time is spent waiting on real processes, not computing; each package's output in one block without prefixes),
// then one line with the total: "N passed, N failed". Exits with turbo's code. The suites are written for a
// busy machine (no wall-clock asserts; ports from the testkit's freePort, which never hands one port to two suites).
// Extra arguments go to turbo, e.g. `pnpm test --filter @master-process/core`.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const args = ['run', 'test', '--log-prefix=none', '--log-order=grouped', '--concurrency=2', ...process.argv.slice(2)];
const turbo = fileURLToPath(new URL('../node_modules/.bin/turbo', import.meta.url));
const child = spawn(turbo, args, {
  stdio: ['inherit', 'pipe', 'pipe'],
  env: { TURBO_TELEMETRY_DISABLED: '1', ...process.env },
});

// The closing lines of each `node --test` run: "# pass N" (tap, when piped) or "ℹ pass N" (spec, on a terminal).
const summary = /^(?:# |ℹ )(pass|fail) (\d+)$/;
const totals = { pass: 0, fail: 0 };
const tee = (from, to) => {
  const lines = createInterface({ input: from, crlfDelay: Infinity });
  lines.on('line', (line) => {
    to.write(`${line}\n`);
    const match = summary.exec(line.replace(/\u001b\[[0-9;]*m/g, '').trim());
    if (match) totals[match[1]] += Number(match[2]);
  });
  return new Promise((resolve) => lines.on('close', resolve));
};
const done = Promise.all([tee(child.stdout, process.stdout), tee(child.stderr, process.stderr)]);

// Ctrl-C reaches turbo too (same process group): let it stop its tasks and report. SIGTERM sent to us alone is passed on.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => child.kill('SIGTERM'));

child.on('error', (error) => {
  console.error(`cannot run turbo: ${error.message}`);
  process.exit(1);
});
child.on('exit', async (code) => {
  // A process a test leaked may still hold the pipes: count what has arrived, do not wait for it.
  await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
  console.log(`${totals.pass} passed, ${totals.fail} failed`);
  // turbo's code, except that a failure it missed (e.g. a test process killed by a signal, which turbo can count as
  // cancelled) still fails the run.
  process.exit((code ?? 1) || (totals.fail > 0 ? 1 : 0));
});
