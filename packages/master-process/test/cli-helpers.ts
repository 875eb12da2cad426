import { spawn } from 'node:child_process';
import http from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtures, freePort, startMaster, tempDir, waitUntil, type MasterHandle } from '@master-process/testkit';

/** The built CLI, as `npx master-process` runs it. */
export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed, when it is one JSON object. */
  json?: any;
  ms: number;
}

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Run as another user: `setpriv --reuid --regid --clear-groups`. */
  as?: { uid: string; gid: string };
}

/** A real CLI process; `done` resolves when it exits (it is killed after 2 minutes, a bound no test reaches). */
export function runCli(args: string[], options: CliOptions = {}): { pid: number; done: Promise<CliResult>; stderr: () => string } {
  const command = options.as ? 'setpriv' : process.execPath;
  const argv = options.as ? [`--reuid=${options.as.uid}`, `--regid=${options.as.gid}`, '--clear-groups', process.execPath, CLI, ...args] : [CLI, ...args];
  const began = Date.now();
  const child = spawn(command, argv, { cwd: options.cwd, env: { ...process.env, XDG_RUNTIME_DIR: undefined, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const done = new Promise<CliResult>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      let json: any;
      try {
        json = JSON.parse(stdout);
      } catch {
        /* not JSON output */
      }
      if (process.env.MP_TEST_VERBOSE === '1') process.stderr.write(`[cli ${args.join(' ')}] exit ${code} in ${Date.now() - began} ms\n${stdout}${stderr}`);
      resolve({ code, stdout, stderr, json, ms: Date.now() - began });
    }),
  );
  return { pid: child.pid!, done, stderr: () => stderr };
}

export const cli = (args: string[], options: CliOptions = {}) => runCli(args, options).done;

export interface App {
  dir: string;
  port: number;
  /** "Deploy new code": the fixture app reads this file at boot. */
  deploy(config: object): void;
  remove(): void;
}

export async function appDir(): Promise<App> {
  const dir = tempDir('mp-cli-');
  const file = join(dir.path, 'app-config.json');
  const deploy = (config: object) => writeFileSync(file, JSON.stringify(config));
  deploy({});
  return { dir: dir.path, port: await freePort(), deploy, remove: dir.remove };
}

/** `master-process start [flags] <fixture app>` in the app's folder; the handle tracks worker pids from the app's lines. */
export function startCli(app: App, flags: string[] = [], env: Record<string, string | undefined> = {}): MasterHandle {
  return startMaster({}, {
    cwd: app.dir, script: CLI, args: ['start', ...flags, fixtures.app],
    env: { PORT: String(app.port), APP_CONFIG_FILE: join(app.dir, 'app-config.json'), XDG_RUNTIME_DIR: undefined, ...env },
  });
}

export function get(port: number, path = '/'): Promise<any> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c)).on('end', () => resolve(JSON.parse(body)));
    }).on('error', reject);
  });
}

/** Until every slot answers over HTTP and the control socket reports them ready. */
export function serving(app: App, master: MasterHandle, workers: number, options: CliOptions = {}): Promise<any> {
  return waitUntil(async () => {
    if (master.child.exitCode !== null) throw new Error(`the master exited (${master.child.exitCode}):\n${master.tail()}`);
    const status = await cli(['status', '--json'], { cwd: app.dir, ...options });
    const ready = status.json?.workers?.filter((w: any) => w.state === 'ready').length ?? 0;
    return ready === workers && (await get(app.port).then(() => status.json, () => undefined));
  }, 60_000, 'the master to serve');
}
