import { ErrorCode, MasterProcessError, parseDuration } from '@master-process/core';
import { ControlErrorCode, type ControlClient, type FailureReport, type Progress, type WorkerBrief } from '@master-process/plugin-control';
import { EXIT } from './exit-codes.js';
import { flagValue, helpText, parseFlags, type FlagSpecs } from './flags.js';
import { duration, pids, who } from './format.js';
import { emit, progress, unreachable, type Outcome } from './output.js';
import { connectTarget, TARGET_FLAGS, Unreachable } from './target.js';

export const RELOAD_FLAGS: FlagSpecs = {
  timeout: { type: 'string', value: '<duration>', help: 'give up waiting after this long (default 10m); the reload goes on in the master' },
  json: { type: 'boolean', help: 'print the result as one JSON object on stdout' },
  ...TARGET_FLAGS,
  help: { type: 'boolean', short: 'h', help: 'this help' },
};

export const RELOAD_HELP = helpText(
  'master-process reload [options]\n\nAsk the running master for a rolling reload and wait for its outcome. Progress goes to stderr, the result\nto stdout. Exit 0: the new generation serves and the old one has drained; 1: it failed and the old\ngeneration still serves (see `master-process --help` for every exit code).',
  RELOAD_FLAGS,
);

interface OkResult {
  outcome: 'ok';
  generation: number;
  trigger: string;
  duration: number;
  workers: WorkerBrief[];
  joined: boolean;
}
interface FailedResult {
  outcome: 'failed';
  generation: number;
  trigger: string;
  duration: number;
  error: { code: string; message: string };
  failure: FailureReport | null;
  serving: { generation: number; workers: WorkerBrief[] };
  joined: boolean;
}

/** One line of progress per event, on stderr. */
function describe(p: Progress): string | undefined {
  const worker = p.worker as WorkerBrief | undefined;
  switch (p.event) {
    case 'reload:queued':
      return `a reload (generation ${p.running}, ${p.trigger}) is in progress: this request joins the reload that follows it`;
    case 'reload:start':
      return `reload: generation ${p.generation} started (${p.trigger})`;
    case 'reload:phase':
      return `  ${String(p.phase).replace('-', ' ')}: slot${(p.slots as number[]).length > 1 ? 's' : ''} ${(p.slots as number[]).join(', ')}`;
    case 'worker:fork':
      return `  ${who(worker!)} forked`;
    case 'worker:ready':
      return `  ${who(worker!)} ready`;
    case 'worker:retire':
      return `  ${who(worker!)} draining (${p.reason})`;
    case 'worker:exit': {
      const exit = p.exit as { code: number | null; signal: string | null; expected: boolean };
      const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
      return exit.expected ? `  ${who(worker!)} exited (${how})` : `  ${who(worker!)} FAILED: exited with ${how}`;
    }
    default:
      return undefined;
  }
}

function failedText(r: FailedResult): string {
  const lines = [
    `reload failed: generation ${r.generation} did not take over; generation ${r.serving.generation} keeps serving (${r.serving.workers.length} worker${r.serving.workers.length === 1 ? '' : 's'}: ${pids(r.serving.workers)})`,
    `  ${r.error.message}`,
  ];
  if (r.failure) {
    const exit = r.failure.exit;
    lines.push(`  failed worker: ${who(r.failure.worker)}, ${exit ? `exited with ${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`}` : 'not ready in time (retired)'}`);
    if (r.failure.stderr.length) lines.push(`  last lines of its stderr:`, ...r.failure.stderr.map((l) => `  | ${l}`));
    else lines.push('  it wrote nothing to stderr');
  }
  return lines.join('\n');
}

export async function reload(args: string[]): Promise<number> {
  const { values } = parseFlags('reload', args, RELOAD_FLAGS);
  if (values.help) return process.stdout.write(RELOAD_HELP), EXIT.OK;
  const json = values.json === true;
  const timeout = flagValue('timeout', typeof values.timeout === 'string' ? values.timeout : '10m', (v, s) => parseDuration(v, s, 'master-process', 1));
  let client: ControlClient;
  try {
    client = await connectTarget(values);
  } catch (error) {
    if (error instanceof Unreachable) return emit(json, unreachable(error));
    throw error;
  }
  const { pid, name } = client.hello;
  progress(`reload requested from master ${pid} (${name})`);
  let last: Progress | undefined;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeout).unref()));
  const outcome = await Promise.race([
    client.request('reload', (p) => {
      if (p.event === 'reload:start' || p.event === 'reload:phase' || p.event === 'reload:queued') last = p;
      const line = describe(p);
      if (line) progress(line);
    }).then((result) => ({ result }), (error: unknown) => ({ error })),
    timedOut,
  ]);
  clearTimeout(timer);
  client.close();
  return emit(json, interpret(outcome, { pid, timeout, last }));
}

function interpret(outcome: { result: unknown } | { error: unknown } | 'timeout', context: { pid: number; timeout: number; last?: Progress }): Outcome {
  if (outcome === 'timeout') {
    const where = context.last
      ? context.last.event === 'reload:phase'
        ? `generation ${context.last.generation}, ${context.last.phase} (slots ${(context.last.slots as number[]).join(', ')})`
        : context.last.event === 'reload:queued' ? `waiting for the reload of generation ${context.last.running} to end` : `generation ${context.last.generation}, starting`
      : 'not started yet';
    const text = `no outcome within ${duration(context.timeout)} (--timeout). The reload goes on in master ${context.pid}; it was at: ${where}. \`master-process status\` shows how it ends.`;
    return { exitCode: EXIT.TIMEOUT, outcome: 'timeout', text, result: true, data: { message: text, last: context.last ?? null } };
  }
  if ('error' in outcome) {
    const error = outcome.error as MasterProcessError;
    if (error?.code === ControlErrorCode.LOST) {
      const text = `the connection to master ${context.pid} was lost before the reload's outcome (did the master exit?). The outcome is unknown: \`master-process status\` shows the last reload if a master runs; if none does, see the master's own log (journalctl -u <unit>, docker logs <container>).`;
      return { exitCode: EXIT.LOST, outcome: 'lost', text, result: true, data: { message: text } };
    }
    if (error?.code === ErrorCode.STOPPING) return { exitCode: EXIT.STOPPING, outcome: 'stopping', text: `no reload: ${error.message}`, result: true, data: { message: error.message } };
    if (error instanceof MasterProcessError) {
      const text = `the master could not reload (${error.code}): ${error.message}`;
      return { exitCode: EXIT.PROTOCOL, outcome: 'refused', text, result: true, data: { code: error.code, message: error.message } };
    }
    throw error;
  }
  const result = outcome.result as OkResult | FailedResult;
  if (result.outcome === 'ok') {
    const joined = result.joined ? ' (the follow-up of a reload in progress)' : '';
    const text = `reload ok: generation ${result.generation} serves (${result.workers.length} worker${result.workers.length === 1 ? '' : 's'}: ${pids(result.workers)})${joined}; the old workers drained and exited, in ${duration(result.duration)}`;
    return { exitCode: EXIT.OK, outcome: 'ok', text, result: true, data: { ...result } };
  }
  return { exitCode: EXIT.FAILED, outcome: 'failed', text: failedText(result), result: true, data: { ...result } };
}
