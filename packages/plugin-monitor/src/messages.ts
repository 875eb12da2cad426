// Messages between the monitor and workers. master-process 4.x sent JSON *strings*; workers written
// for it parse them with JSON.parse, so they are still sent that way.

export const replaceFaultyWorker = (reason: string, oldPid: number, newPid: number): string =>
  JSON.stringify({ msg: 'replace_faulty_worker', reason, old_pid: oldPid, new_pid: newPid });

export const memHigh = (memPercent: number): string => JSON.stringify({ msg: 'mem_high', mem_perc: memPercent });

export type MonitoringCommand = 'pause_monitoring' | 'resume_monitoring';

/** `pause_monitoring` / `resume_monitoring` from a worker: a JSON string (4.x) or an object `{ msg }`. */
export function monitoringCommand(message: unknown): MonitoringCommand | undefined {
  let msg: unknown;
  if (typeof message === 'string') {
    if (!message.includes('_monitoring')) return undefined; // most messages are not ours: skip the parse
    try {
      msg = (JSON.parse(message) as { msg?: unknown } | null)?.msg;
    } catch {
      return undefined;
    }
  } else if (message !== null && typeof message === 'object') {
    msg = (message as { msg?: unknown }).msg;
  }
  return msg === 'pause_monitoring' || msg === 'resume_monitoring' ? msg : undefined;
}
