import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { fixtures, httpGet, PYTHON, startMaster, waitUntil, type MasterHandle, type MasterSpec } from '@master-process/testkit';

export const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
export const RECEIVER = fileURLToPath(new URL('./fixtures/notify-receiver.py', import.meta.url));

export interface Datagram {
  pid: number | null;
  fields: string[];
  t: number;
  mono: number;
}

/** A stand-in for systemd's notify socket (a unix datagram socket bound by python3) that records every message. */
export class NotifyReceiver {
  readonly messages: Datagram[] = [];
  private bound!: Promise<void>;
  private readonly exited: Promise<void>;

  private constructor(readonly address: string, readonly child: ChildProcess) {
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    this.bound = new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the notify receiver exited (${code}) before it bound ${address}`)));
      createInterface({ input: child.stdout! }).on('line', (line) => {
        const parsed = JSON.parse(line);
        if (parsed.bound) resolve();
        else this.messages.push(parsed);
      });
    });
    child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`[notify receiver] ${chunk}`));
  }

  static async start(address: string): Promise<NotifyReceiver> {
    const receiver = new NotifyReceiver(address, spawn(PYTHON, [RECEIVER, address], { stdio: ['pipe', 'pipe', 'pipe'] }));
    await receiver.bound;
    return receiver;
  }

  /** Messages other than systemd-notify's BARRIER=1, which only says the previous one was read. */
  get notifications(): Datagram[] {
    return this.messages.filter((m) => !(m.fields.length === 1 && m.fields[0] === 'BARRIER=1'));
  }

  async until(what: string, check: (messages: Datagram[]) => boolean, timeout = 30_000): Promise<Datagram[]> {
    await waitUntil(() => check(this.notifications), timeout, `${what}; got ${JSON.stringify(this.notifications.map((m) => m.fields))}`);
    return this.notifications;
  }

  async close(): Promise<void> {
    this.child.stdin!.end();
    const gone = await Promise.race([this.exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5000).unref())]);
    if (!gone) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** `KEY=VALUE` lines as an object. */
export const fieldsOf = (d: Datagram) => Object.fromEntries(d.fields.map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]));

/** A real master with the plugin, running the fixture app. */
export function startSystemdMaster(
  { options = {}, plugin = {}, env = {} }: { options?: Record<string, unknown>; plugin?: Record<string, unknown>; env?: Record<string, string | undefined> } = {},
): MasterHandle {
  const spec: MasterSpec = {
    options: { exec: fixtures.app, ...options },
    // The fixture imports the CommonJS build, whose namespace `default` is the whole exports object.
    plugins: [{ package: '@master-process/plugin-systemd', export: 'systemd', options: plugin }],
  };
  return startMaster(spec, { cwd: PACKAGE_DIR, env });
}

/** GET a JSON route of the fixture app on a fresh connection. */
export const get = (port: number, path = '/'): Promise<any> => httpGet({ port, path }).then((r) => r.body);
