// `pnpm example`: runs examples/app.cjs (a 4.x-style app: init() in the primary) under the master with 2
// workers, keeps 16 keep-alive connections busy, and deploys through the CLI, as a deploy script would:
// `master-process reload` waits for each outcome. A version that throws at boot is refused (exit 1) while
// the previous one keeps serving; then `master-process stop`. Not one request fails.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, isAlive, runLoad, sleep, waitUntil } from '@master-process/testkit';

const here = dirname(fileURLToPath(import.meta.url));
// The `master-process` command of the workspace (npx master-process, once installed from the registry).
const umbrella = dirname(createRequire(import.meta.url).resolve('master-process/package.json'));
const cliPath = join(umbrella, JSON.parse(readFileSync(join(umbrella, 'package.json'), 'utf8')).bin['master-process']);
// The deployed app lives in its own folder, so "deploying" is rewriting it (it still finds master-process from here).
const release = join(here, '.demo');
const appFile = join(release, 'app.cjs');
const original = readFileSync(join(here, 'app.cjs'), 'utf8');
const deploy = (version: string, breakAtBoot = false) =>
  writeFileSync(appFile, original.replace("pid: process.pid,", `pid: process.pid, version: '${version}',`).replace(
    "const server = http.createServer(",
    `${breakAtBoot ? "throw new Error('v3 cannot reach its database');\n" : ''}const server = http.createServer(`,
  ));
rmSync(release, { recursive: true, force: true });
mkdirSync(release);
deploy('v1');

const port = await freePort();
const bold = (line: string) => console.log(`\x1b[1m${line}\x1b[0m`);
const dim = (text: string) => text.trimEnd().split('\n').forEach((l) => l && console.log(`\x1b[2m    ${l}\x1b[0m`));

const master = spawn(process.execPath, [appFile], { cwd: release, env: { ...process.env, PORT: String(port), WORKERS: '2' }, stdio: ['ignore', 'ignore', 'pipe'] });
let masterErr = '';
master.stderr!.on('data', (d: Buffer) => (masterErr += d));
const exited = new Promise<number | null>((resolve) => master.once('exit', (code) => resolve(code)));

/** `master-process <args>` from the release folder; prints the command, its progress (dim) and its result. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; json?: any }> {
  bold(`$ master-process ${args.join(' ')}`);
  const child = spawn(process.execPath, [cliPath, ...args], { cwd: release, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => dim(String(d)));
  return new Promise((resolve) => child.on('close', (code) => {
    if (!args.includes('--json')) console.log(stdout.trimEnd().replace(/^/gm, '    '));
    let json;
    try {
      json = JSON.parse(stdout);
    } catch {
      /* text */
    }
    bold(`  → exit code ${code}`);
    resolve({ code, stdout, json });
  }));
}

const pids = new Set<number>();
let ok = true;
const expect = (what: string, good: boolean) => {
  if (!good) {
    ok = false;
    console.log(`\x1b[31m  unexpected: ${what}\x1b[0m`);
  }
};

try {
  const ask = async () => (await fetch(`http://127.0.0.1:${port}/`)).json() as Promise<{ pid: number; version: string; generation: number }>;
  await waitUntil(() => ask().then(() => true, () => false), 30_000, 'the app to answer');
  await waitUntil(async () => (await cli(['status', '--json'])).code === 0, 30_000, 'the control socket');
  bold(`master ${master.pid} serves v1 with 2 workers on http://127.0.0.1:${port}; load: 16 keep-alive connections`);
  const load = runLoad({ target: { port }, connections: 16, keepAlive: true, durationMs: 90_000 });
  await sleep(1000);

  bold('\n# deploy v2');
  deploy('v2');
  expect('v2 reload exit 0', (await cli(['reload'])).code === 0);

  bold('\n# deploy v3, which throws at boot: `master-process reload || rollback`');
  deploy('v3', true);
  const failed = await cli(['reload']);
  expect('v3 reload exit 1', failed.code === 1);
  const serving = await ask();
  bold(`  still served by ${serving.version} (generation ${serving.generation}); rolling back:`);
  expect('v2 still serves', serving.version === 'v2');
  deploy('v2');
  expect('rollback reload exit 0', (await cli(['reload'])).code === 0);

  bold('');
  expect('status exit 0', (await cli(['status'])).code === 0);

  load.stop();
  const result = await load.done;
  for (const pid of result.samples.pid) if (pid > 1) pids.add(pid);
  bold(`\nload: ${result.total} requests, ${result.failed} failed${result.failed ? ` ${JSON.stringify(result.failures)}` : ''}; p99 ${result.latency.p99} ms`);
  expect('no failed request', result.failed === 0);

  const stopped = await cli(['stop']);
  expect('stop exit 0', stopped.code === 0);
  const code = await exited;
  await waitUntil(() => [...pids].every((pid) => !isAlive(pid)), 10_000, 'every worker to be gone');
  bold(`master exited with code ${code}; no worker left`);
  expect('master exit 0', code === 0);
  process.exitCode = ok ? 0 : 1;
} catch (error) {
  console.error(error, `\nmaster stderr:\n${masterErr}`);
  process.exitCode = 1;
} finally {
  for (const pid of [master.pid!, ...pids]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  rmSync(release, { recursive: true, force: true });
}
