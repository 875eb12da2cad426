import type { ExitCode } from './exit-codes.js';
import type { Unreachable } from './target.js';

/** How a command ended: printed as text, or with --json as one object on stdout. */
export interface Outcome {
  exitCode: ExitCode;
  /** A word for scripts: ok, failed, timeout, lost, stopping, no-master, denied, protocol, stopped. */
  outcome: string;
  text: string;
  /** The result of the request: text goes to stdout; otherwise (no answer at all) to stderr. */
  result: boolean;
  data?: Record<string, unknown>;
}

export function emit(json: boolean, o: Outcome): ExitCode {
  if (json) process.stdout.write(`${JSON.stringify({ outcome: o.outcome, exitCode: o.exitCode, ...o.data })}\n`);
  else (o.result ? process.stdout : process.stderr).write(`${o.result ? '' : 'master-process: '}${o.text}\n`);
  return o.exitCode;
}

export const unreachable = (error: Unreachable): Outcome => ({
  exitCode: error.exitCode, outcome: error.outcome, text: error.message, result: false, data: { message: error.message, tried: error.tried },
});

/** Progress, on stderr whatever the output format. */
export const progress = (line: string) => process.stderr.write(`${line}\n`);
