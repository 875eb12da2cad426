import { availableParallelism } from 'node:os';
import { ErrorCode, MasterProcessError, invalidValue, type ValueSource } from './errors.js';

// Shared by every package: each option may also come from an environment variable,
// and both must fail the same clear way. Explicit option > environment > default.

export interface Setting<T> {
  /** The option's name as users write it, e.g. `killTimeout`. */
  option: string;
  /** The explicit value (undefined = not given). */
  value: unknown;
  /** The environment variable(s) that may carry it, first one set wins. */
  env?: string | readonly string[];
  default: T;
  parse: (value: unknown, source: ValueSource) => T;
  /** Where to read variables from (default `process.env`). */
  environment?: NodeJS.ProcessEnv;
}

export function resolveSetting<T>(setting: Setting<T>): T {
  if (setting.value !== undefined) return setting.parse(setting.value, { option: setting.option });
  const names = setting.env === undefined ? [] : typeof setting.env === 'string' ? [setting.env] : setting.env;
  const environment = setting.environment ?? process.env;
  for (const name of names) {
    const raw = environment[name];
    if (raw !== undefined && raw.trim() !== '') return setting.parse(raw, { env: name });
  }
  return setting.default;
}

const DURATION_FORMS = 'milliseconds as a number, or a string such as "500ms", "5s", "2m" or "1.5s"';
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `5s`, `500ms`, `2m`, `1500` (ms) or a number of ms; at least `min` ms. */
export function parseDuration(value: unknown, source: ValueSource, pkg?: string, min = 0): number {
  let ms: number | undefined;
  if (typeof value === 'number') ms = value;
  else if (typeof value === 'string') {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(value);
    if (match) ms = Number(match[1]) * UNIT_MS[(match[2] ?? 'ms').toLowerCase()]!;
  }
  if (ms === undefined || !Number.isFinite(ms) || ms < min) {
    throw invalidValue(source, value, `a duration of at least ${min} ms (${DURATION_FORMS})`, pkg);
  }
  return Math.round(ms);
}

export interface NumberRange {
  min?: number;
  max?: number;
  integer?: boolean;
  /** Whether `min` itself is allowed (default true). */
  minInclusive?: boolean;
}

function describeRange(range: NumberRange): string {
  const kind = range.integer ? 'an integer' : 'a number';
  const parts: string[] = [];
  if (range.min !== undefined) parts.push(`${range.minInclusive === false ? '>' : '>='} ${range.min}`);
  if (range.max !== undefined) parts.push(`<= ${range.max}`);
  return parts.length ? `${kind} ${parts.join(' and ')}` : kind;
}

/** A finite number (or numeric string) within a range. */
export function parseNumber(value: unknown, source: ValueSource, range: NumberRange = {}, pkg?: string): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value.trim()) : Number.NaN;
  const ok =
    Number.isFinite(n) &&
    (!range.integer || Number.isInteger(n)) &&
    (range.min === undefined || (range.minInclusive === false ? n > range.min : n >= range.min)) &&
    (range.max === undefined || n <= range.max);
  if (!ok) throw invalidValue(source, value, describeRange(range), pkg);
  return n;
}

/**
 * Workers count, as the original master-process documented `WORKERS`: a positive integer, or `MAX` / `AUTO`,
 * both one worker per core (`os.availableParallelism()`). 4.x's code had made AUTO one less: set a number for that.
 */
export function parseWorkers(value: unknown, source: ValueSource): number {
  if (typeof value === 'string') {
    const word = value.trim().toUpperCase();
    const cores = availableParallelism();
    if (word === 'MAX' || word === 'AUTO') return cores;
  }
  try {
    return parseNumber(value, source, { integer: true, min: 1 });
  } catch {
    throw invalidValue(source, value, 'a positive integer, "MAX" (one worker per CPU core) or "AUTO" (both: one worker per CPU core)');
  }
}

export function parseOneOf<T extends string>(allowed: readonly T[]) {
  return (value: unknown, source: ValueSource, pkg?: string): T => {
    const v = typeof value === 'string' ? value.trim() : value;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    throw invalidValue(source, value, allowed.map((a) => JSON.stringify(a)).join(' or '), pkg);
  };
}

export function parseBoolean(value: unknown, source: ValueSource, pkg?: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(v)) return true;
    if (['0', 'false', 'no', 'off'].includes(v)) return false;
  }
  throw invalidValue(source, value, 'true or false (in the environment: 1/0, true/false, yes/no, on/off)', pkg);
}

/**
 * An options object with only `known` keys: anything else is refused, since a typo would otherwise be
 * silently ignored. `prefix` names a nested object (`'reload.'`).
 */
export function assertKnownKeys(value: unknown, known: ReadonlySet<string>, where: { prefix?: string; pkg?: string } = {}): asserts value is object {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const name = where.prefix ? where.prefix.slice(0, -1) : 'options';
    throw invalidValue({ option: name }, value, `an object { ${[...known].join(', ')} }`, where.pkg);
  }
  for (const key of Object.keys(value)) {
    if (!known.has(key)) {
      throw new MasterProcessError(
        ErrorCode.INVALID_OPTION,
        `${where.pkg ?? '@master-process/core'}: unknown option \`${where.prefix ?? ''}${key}\`. Accepted: ${[...known].join(', ')}.`,
      );
    }
  }
}
