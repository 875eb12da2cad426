import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** True while `pid` runs. A zombie has exited (only its parent has not reaped it yet): where /proc tells, it is not alive. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // The state follows the command name, which may hold spaces and parentheses: read after the last `)`.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return true;
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Poll `check` every 50 ms until it is truthy; throw after `timeout`. For waits with no event to wait on. */
export async function waitUntil<T>(check: () => T | Promise<T>, timeout: number, what: string): Promise<T> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** `promise`, or undefined after `ms` (the timer never holds the process open). */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
    promise.then((v) => (clearTimeout(timer), resolve(v)), (e) => (clearTimeout(timer), reject(e)));
  });
}

/** Ports handed out recently, by any test process on this machine (suites may run side by side). */
const RESERVED = join(tmpdir(), 'mp-test-ports');
/** A reservation older than this is from a run long over: the port may be handed out again. */
const RESERVATION_TTL = 30 * 60_000;

/** Claim `port` for this run unless another test process claimed it recently. */
function reserve(port: number): boolean {
  mkdirSync(RESERVED, { recursive: true });
  const file = join(RESERVED, String(port));
  try {
    closeSync(openSync(file, 'wx'));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    if (Date.now() - statSync(file).mtimeMs < RESERVATION_TTL) return false;
    utimesSync(file, new Date(), new Date());
    return true;
  }
}

function listenOnce(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A TCP port free on loopback right now, and not handed to any other test process on this machine in the
 * last half hour: the kernel may give a port that was just closed to the next `listen(0)`, and a suite
 * running beside this one must not be handed the port this one is about to bind.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await listenOnce();
    if (reserve(port)) return port;
  }
  throw new Error(`freePort: 100 free ports in a row were reserved in ${RESERVED}; remove that folder if no test runs`);
}

/** A fresh temp folder, and a function that removes it. */
export function tempDir(prefix = 'mp-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * A stale socket, as a SIGKILLed master leaves it: a process binds `path` and is killed
 * before it can close (closing would unlink it).
 */
export async function staleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  const [, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  if (signal !== 'SIGKILL') throw new Error(`the stale-socket maker ended with ${signal}, not SIGKILL`);
}
