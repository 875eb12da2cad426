/** 850 ms, 1.3 s, 2 min 5 s, 3 h 2 min. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

export const time = (epochMs: number) => new Date(epochMs).toISOString().replace(/\.\d+Z$/, 'Z');

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export interface WorkerLike {
  pid: number;
  slot: number;
  generation: number;
}

export const who = (w: WorkerLike) => `worker ${w.pid} (slot ${w.slot}, generation ${w.generation})`;
export const pids = (workers: WorkerLike[]) => workers.map((w) => w.pid).join(', ');
