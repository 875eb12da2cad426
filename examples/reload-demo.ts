// `pnpm example`: runs examples/app.cjs under the master with 2 workers, keeps 16 keep-alive connections
// busy, reloads twice with `kill -HUP`, and shows that no request failed.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort, isAlive, runLoad, sleep, waitUntil } from '@master-process/testkit';

const app = fileURLToPath(new URL('./app.cjs', import.meta.url));
const port = await freePort();
const say = (line: string) => console.log(`\x1b[1m${line}\x1b[0m`);

const master = spawn(process.execPath, [app], {
  env: { ...process.env, PORT: String(port), WORKERS: '2', DEBUG: 'master-process:core' },
  stdio: ['ignore', 'inherit', 'pipe'],
});
const reloads: string[] = [];
const pids = new Set<number>();
createInterface({ input: master.stderr! }).on('line', (line) => {
  if (/forked for|ready \(|retiring|exited|reload \d+: (start|done)|stopping|stopped|master \d+/.test(line)) console.log(`  ${line.replace(/^\S+ /, '')}`);
  const forked = /PID\/(\d+): forked/.exec(line);
  if (forked) pids.add(Number(forked[1]));
  const done = /reload (\d+): done in (\d+) ms/.exec(line);
  if (done) reloads.push(done[2]!);
});
const exited = new Promise<number | null>((resolve) => master.once('exit', (code) => resolve(code)));

try {
  const ask = async () => (await fetch(`http://127.0.0.1:${port}/`)).json() as Promise<{ pid: number; generation: number }>;
  await waitUntil(() => ask().then(() => true, () => false), 30_000, 'the app to answer');
  say(`master ${master.pid} serves examples/app.cjs with 2 workers on http://127.0.0.1:${port}`);
  say('load: 16 keep-alive connections, looping requests');
  const load = runLoad({ target: { port }, connections: 16, keepAlive: true, durationMs: 60_000 });
  await sleep(1000);
  for (const n of [1, 2]) {
    say(`kill -HUP ${master.pid}   # reload ${n}`);
    master.kill('SIGHUP');
    await waitUntil(() => reloads.length >= n, 60_000, `reload ${n}`);
    await sleep(1000);
  }
  load.stop();
  const result = await load.done;
  const now = await ask();
  say(`load: ${result.total} requests, ${result.failed} failed${result.failed ? ` ${JSON.stringify(result.failures)}` : ''}; p99 ${result.latency.p99} ms`);
  say(`reloads took ${reloads.join(' ms and ')} ms; now served by generation ${now.generation}`);
  say(`kill -TERM ${master.pid}   # graceful stop`);
  master.kill('SIGTERM');
  const code = await exited;
  await waitUntil(() => [...pids].every((pid) => !isAlive(pid)), 10_000, 'every worker to be gone');
  say(`master exited with code ${code}; no worker left`);
  process.exitCode = result.failed === 0 && code === 0 ? 0 : 1;
} finally {
  for (const pid of [master.pid!, ...pids]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
