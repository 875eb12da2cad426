import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { fixtures, freePort, startMaster, type MasterHandle } from '@master-process/testkit';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

export interface ControlMaster extends MasterHandle {
  port: number;
  stderr(): string;
}

/** A real master running the fixture app on a fresh port, with the control plugin (built package) and `options`. */
export async function startControlMaster(plugin: Record<string, unknown>, { options = {}, env = {} }: { options?: Record<string, unknown>; env?: Record<string, string | undefined> } = {}): Promise<ControlMaster> {
  const port = await freePort();
  const handle = startMaster(
    { options: { exec: fixtures.app, workers: 1, ...options }, plugins: [{ package: '@master-process/plugin-control', export: 'control', options: plugin }] },
    { cwd: PACKAGE_DIR, env: { PORT: String(port), XDG_RUNTIME_DIR: undefined, ...env } },
  ) as ControlMaster;
  const chunks: string[] = [];
  handle.child.stderr!.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  handle.stderr = () => chunks.join('');
  handle.port = port;
  return handle;
}

/** A raw protocol client: every line it receives, parsed. */
export class RawClient {
  readonly messages: any[] = [];
  readonly closed: Promise<void>;
  error?: NodeJS.ErrnoException;
  private waiters: (() => void)[] = [];
  private buffer = '';

  constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      this.buffer += text;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) !== -1) {
        this.messages.push(JSON.parse(this.buffer.slice(0, nl)));
        this.buffer = this.buffer.slice(nl + 1);
      }
      this.wake();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => (this.error = error));
    this.closed = new Promise((resolve) => socket.on('close', () => (this.wake(), resolve())));
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ path });
      socket.once('connect', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  write(text: string | Buffer): void {
    this.socket.write(text);
  }

  send(request: object): void {
    this.write(`${JSON.stringify(request)}\n`);
  }

  /** The first message (from index `since`) that `match`es; rejects after `timeout` or if the connection closes first. */
  async next(match: (m: any) => boolean, { since = 0, timeout = 30_000 } = {}): Promise<any> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const found = this.messages.slice(since).find(match);
      if (found) return found;
      if (this.socket.destroyed) throw new Error(`connection closed; got ${JSON.stringify(this.messages)}`);
      if (Date.now() > deadline) throw new Error(`timed out; got ${JSON.stringify(this.messages)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 200);
        this.waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  /** Send a request and wait for its result or error. */
  async request(request: { id: number | string; cmd: string }, timeout = 60_000): Promise<any> {
    this.send(request);
    return this.next((m) => m.id === request.id && (m.type === 'result' || m.type === 'error'), { timeout });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Run a tiny node client as another user (setpriv); resolves with what it printed: "hello", or an errno. */
export function connectAs(user: { uid: string; gid: string }, path: string): Promise<string> {
  const script = `const c = require('net').connect(${JSON.stringify(path)});
c.on('data', (d) => { console.log(JSON.parse(String(d).split('\\n')[0]).type); c.destroy(); });
c.on('error', (e) => console.log(e.code));`;
  const child = spawn('setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  return new Promise((resolve) => child.on('exit', () => resolve(out.trim())));
}
