import { ErrorCode, parseDuration, type MasterProcessError } from '@master-process/core';
import { ControlErrorCode, type Progress, type WorkerBrief } from '@master-process/plugin-control';
import { isAlive } from './alive.js';
import { EXIT } from './exit-codes.js';
import { flagValue, helpText, parseFlags, type FlagSpecs } from './flags.js';
import { duration, who } from './format.js';
import { emit, progress, unreachable, type Outcome } from './output.js';
import { connectTarget, TARGET_FLAGS, Unreachable } from './target.js';

export const STOP_FLAGS: FlagSpecs = {
  timeout: { type: 'string', value: '<duration>', help: 'give up waiting after this long (default 10m); the stop goes on in the master' },
  json: { type: 'boolean', help: 'print the result as one JSON object on stdout' },
  ...TARGET_FLAGS,
  help: { type: 'boolean', short: 'h', help: 'this help' },
};

export const STOP_HELP = helpText(
  'master-process stop [options]\n\nGraceful stop: every worker leaves rotation, drains and exits, then the master exits. Waits until the\nmaster process is gone; exit 0 when it exited with code 0.',
  STOP_FLAGS,
);

const POLL_MS = 50;

/** Resolves true once `pid` is gone, false at `deadline`. */
async function gone(pid: number, deadline: number): Promise<boolean> {
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return true;
}

export async function stop(args: string[]): Promise<number> {
  const { values } = parseFlags('stop', args, STOP_FLAGS);
  if (values.help) return process.stdout.write(STOP_HELP), EXIT.OK;
  const json = values.json === true;
  const timeout = flagValue('timeout', typeof values.timeout === 'string' ? values.timeout : '10m', (v, s) => parseDuration(v, s, 'master-process', 1));
  const deadline = Date.now() + timeout;
  let client;
  try {
    client = await connectTarget(values);
  } catch (error) {
    if (error instanceof Unreachable) return emit(json, unreachable(error));
    throw error;
  }
  const { pid } = client.hello;
  progress(`stop requested from master ${pid} (${client.hello.name})`);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeout).unref()));
  const answer = await Promise.race([
    client.request('stop', (p: Progress) => {
      const worker = p.worker as WorkerBrief | undefined;
      if (p.event === 'worker:retire') progress(`  ${who(worker!)} draining`);
      if (p.event === 'worker:exit') progress(`  ${who(worker!)} exited`);
    }).then((result) => ({ result: result as { code: number; reason: string } }), (error: unknown) => ({ error: error as MasterProcessError })),
    timedOut,
  ]);
  clearTimeout(timer);
  const timeoutOutcome = (what: string): Outcome => {
    const text = `master ${pid} ${what} within ${duration(timeout)} (--timeout); the stop goes on. \`master-process status\` tells whether it still runs.`;
    return { exitCode: EXIT.TIMEOUT, outcome: 'timeout', text, result: true, data: { message: text, pid } };
  };
  if (answer === 'timeout') {
    client.close();
    return emit(json, timeoutOutcome('did not stop'));
  }
  if ('error' in answer) {
    const { error } = answer;
    if (error?.code === ControlErrorCode.LOST) {
      // The master may have exited before its last words reached us.
      const ended = await gone(pid, Math.min(deadline, Date.now() + 2000));
      const text = `the connection to master ${pid} was lost before it confirmed the stop; it ${ended ? 'has exited, with an exit code this command could not learn' : 'still runs'}.`;
      return emit(json, { exitCode: EXIT.LOST, outcome: 'lost', text, result: true, data: { message: text, pid, exited: ended } });
    }
    const exitCode = error?.code === ErrorCode.STOPPING ? EXIT.STOPPING : EXIT.PROTOCOL;
    return emit(json, { exitCode, outcome: 'refused', text: `the master could not stop (${error?.code}): ${error?.message}`, result: true, data: { code: error?.code, message: error?.message } });
  }
  client.close();
  // Workers are gone; the master exits right after: wait for it, so a script may start the next one at once.
  if (!(await gone(pid, deadline))) return emit(json, timeoutOutcome('had stopped its workers but did not exit'));
  const { code, reason } = answer.result;
  const text = `master ${pid} stopped (${reason}) with exit code ${code}`;
  return emit(json, { exitCode: code === 0 ? EXIT.OK : EXIT.FAILED, outcome: 'stopped', text, result: true, data: { pid, code, reason } });
}
