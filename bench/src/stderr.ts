// The cost of `captureStderr` (core: worker stderr piped through the master), side by side with plain
// inherited stderr: two workers each write N lines to stderr (GET /stderr?lines=N on the fixture app), the
// master's stderr goes to a file (the fastest sink, so any relay overhead shows). Rounds alternate on/off.
//   node --import tsx src/stderr.ts [--lines 100000] [--rounds 5]
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { fixtures, freePort, tempDir } from '@master-process/testkit';
import { cpuTimeMs } from './proc.js';

const { values } = parseArgs({ options: { lines: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '5' } } });
const lines = Number(values.lines);
const rounds = Number(values.rounds);
const coreDir = new URL('../node_modules/@master-process/core/', import.meta.url).pathname;

const get = (port: number, path: string) =>
  new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c)).on('end', () => resolve(JSON.parse(body).pid));
    }).on('error', reject);
  });

async function run(captureStderr: boolean, dir: string): Promise<{ ms: number; masterCpuMs: number; bytes: number; complete: boolean }> {
  const port = await freePort();
  const log = join(dir, `stderr-${captureStderr}-${Date.now()}.log`);
  const fd = openSync(log, 'w');
  const spec = { options: { exec: fixtures.app, workers: 2, captureStderr, watchdog: false } };
  const master = spawn(process.execPath, [fixtures.master], { cwd: coreDir, env: { ...process.env, PORT: String(port), MP_MASTER_SPEC: JSON.stringify(spec) }, stdio: ['pipe', 'pipe', fd] });
  closeSync(fd);
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: master.stdout! }).on('line', (line) => line.includes('"ev":"started"') && resolve());
    master.once('exit', () => reject(new Error('the master exited before it started')));
  });
  // Both workers at once: the first requests of two fresh connections go to both (round-robin).
  const cpuBefore = cpuTimeMs(master.pid!) ?? 0;
  const began = performance.now();
  const pids = await Promise.all([get(port, `/stderr?lines=${lines}`), get(port, `/stderr?lines=${lines}`)]);
  const ms = performance.now() - began;
  const masterCpuMs = (cpuTimeMs(master.pid!) ?? 0) - cpuBefore;
  master.kill('SIGTERM');
  await new Promise((resolve) => master.once('exit', resolve));
  const text = readFileSync(log, 'utf8');
  const complete = pids.every((pid) => text.includes(`stderr ${pid} ${lines - 1} `));
  return { ms, masterCpuMs, bytes: statSync(log).size, complete };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const dir = tempDir('mp-bench-stderr-');
try {
  const results: Record<'on' | 'off', Awaited<ReturnType<typeof run>>[]> = { on: [], off: [] };
  for (let i = 0; i < rounds; i++) {
    for (const mode of i % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      const r = await run(mode === 'on', dir.path);
      results[mode].push(r);
      process.stderr.write(`round ${i + 1} ${mode}: ${r.ms.toFixed(0)} ms, master CPU ${r.masterCpuMs} ms, ${(r.bytes / 1e6).toFixed(1)} MB, ${r.complete ? 'complete' : 'INCOMPLETE'}\n`);
    }
  }
  const on = median(results.on.map((r) => r.ms));
  const off = median(results.off.map((r) => r.ms));
  const mb = results.on[0]!.bytes / 1e6;
  console.log(JSON.stringify({
    lines, rounds, mb: Number(mb.toFixed(1)),
    msOff: Math.round(off), msOn: Math.round(on), ratio: Number((on / off).toFixed(2)),
    mbPerSecOff: Number((mb / (off / 1000)).toFixed(1)), mbPerSecOn: Number((mb / (on / 1000)).toFixed(1)),
    masterCpuMsOn: median(results.on.map((r) => r.masterCpuMs)), masterCpuMsOff: median(results.off.map((r) => r.masterCpuMs)),
    allComplete: [...results.on, ...results.off].every((r) => r.complete),
  }));
} finally {
  dir.remove();
}
