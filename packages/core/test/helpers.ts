import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtures, freePort, httpGet, isAlive, startMaster, tempDir, type MasterHandle, type MasterSpec } from '@master-process/testkit';

export const coreDir = fileURLToPath(new URL('..', import.meta.url));

/** A real master running the fixture app on a fresh port; the handle is registered for clean-up. */
export async function master(spec: MasterSpec, env: Record<string, string> = {}, cleanups?: (() => Promise<void>)[]): Promise<{ m: MasterHandle; port: number }> {
  const port = await freePort();
  const m = startMaster({ ...spec, options: { exec: fixtures.app, ...spec.options } }, { cwd: coreDir, env: { PORT: String(port), ...env } });
  cleanups?.push(() => m.cleanup());
  return { m, port };
}

/** GET a JSON route of the fixture app (a fresh connection each time). */
export const get = (port: number, path = '/'): Promise<any> => httpGet({ port, path }).then((r) => r.body);

/** Ask until every slot in 0..workers-1 has answered; returns the answers by slot. */
export async function everySlot(port: number, workers: number, path = '/'): Promise<any[]> {
  const seen: any[] = [];
  for (let i = 0; i < 200 && seen.filter(Boolean).length < workers; i++) {
    const answer = await get(port, path);
    seen[answer.slot] ??= answer;
  }
  return seen;
}

/** The fixture app reads APP_CONFIG_FILE at boot: rewriting it "deploys" new code for the next fork. */
export function deployable(cleanups: (() => Promise<void>)[]): { file: string; deploy: (config: object) => void } {
  const dir = tempDir();
  cleanups.push(async () => dir.remove());
  const file = join(dir.path, 'app-config.json');
  const deploy = (config: object) => writeFileSync(file, JSON.stringify(config));
  deploy({});
  return { file, deploy };
}

/** Running children of `pid` (ps exits 1 when there is none). */
export function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split(/\s+/).filter(Boolean).map(Number).filter(isAlive);
  } catch {
    return [];
  }
}
