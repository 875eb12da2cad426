import { ControlErrorCode, type Status } from '@master-process/plugin-control';
import type { MasterProcessError } from '@master-process/core';
import { EXIT } from './exit-codes.js';
import { helpText, parseFlags, type FlagSpecs } from './flags.js';
import { duration, table, time } from './format.js';
import { emit, unreachable } from './output.js';
import { connectTarget, TARGET_FLAGS, Unreachable } from './target.js';

export const STATUS_FLAGS: FlagSpecs = {
  json: { type: 'boolean', help: 'print the status as one JSON object on stdout' },
  ...TARGET_FLAGS,
  help: { type: 'boolean', short: 'h', help: 'this help' },
};

export const STATUS_HELP = helpText('master-process status [options]\n\nThe running master: its workers, the reload in progress and how the last one ended.', STATUS_FLAGS);

export function statusText(s: Status): string {
  const m = s.master;
  const lines = [
    `master ${m.pid} (${m.name}) ${m.state}, up ${duration(m.uptime)}; @master-process/core ${m.versions.core}, Node.js ${m.versions.node}`,
    `socket ${m.socket}`,
    `serving generation ${s.generation} with ${s.workers.filter((w) => w.state === 'ready' && w.generation === s.generation).length} of ${m.workers} worker${m.workers === 1 ? '' : 's'}`,
    '',
    table(
      ['SLOT', 'PID', 'GEN', 'STATE', 'UP', 'RESTARTS', ...(s.monitor ? ['MEMORY', 'CPU'] : [])],
      s.workers.map((w) => [
        String(w.slot), String(w.pid), String(w.generation), w.state, duration(w.uptime), String(w.restarts),
        ...(s.monitor ? [w.memoryMB === undefined ? '-' : `${w.memoryMB} MB`, w.cpu === undefined ? '-' : `${w.cpu} %`] : []),
      ]),
    ),
    '',
  ];
  const r = s.reload;
  lines.push(r
    ? `reload in progress: generation ${r.generation} (${r.trigger}), ${r.phase ? `${r.phase}${r.slots ? ` (slots ${r.slots.join(', ')})` : ''}` : 'waiting for its turn'}, for ${duration(r.elapsed)}`
    : 'reload in progress: none');
  const l = s.lastReload;
  if (!l) lines.push('last reload: none since the master started');
  else {
    lines.push(`last reload: generation ${l.generation} ${l.outcome === 'ok' ? 'ok' : 'FAILED'} (${l.trigger}) at ${time(l.endedAt)}, took ${duration(l.duration)}`);
    if (l.error) lines.push(`  ${l.error.message}`);
  }
  return lines.join('\n');
}

export async function status(args: string[]): Promise<number> {
  const { values } = parseFlags('status', args, STATUS_FLAGS);
  if (values.help) return process.stdout.write(STATUS_HELP), EXIT.OK;
  const json = values.json === true;
  try {
    const client = await connectTarget(values);
    try {
      const s = (await client.request('status')) as Status;
      return emit(json, { exitCode: EXIT.OK, outcome: 'ok', text: statusText(s), result: true, data: { ...s } });
    } finally {
      client.close();
    }
  } catch (error) {
    if (error instanceof Unreachable) return emit(json, unreachable(error));
    const e = error as MasterProcessError;
    if (e?.code === ControlErrorCode.LOST) return emit(json, { exitCode: EXIT.LOST, outcome: 'lost', text: e.message, result: false, data: { message: e.message } });
    if (typeof e?.code === 'string') return emit(json, { exitCode: EXIT.PROTOCOL, outcome: 'refused', text: e.message, result: false, data: { code: e.code, message: e.message } });
    throw error;
  }
}
