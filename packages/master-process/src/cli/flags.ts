import { parseArgs } from 'node:util';
import { MasterProcessError } from '@master-process/core';
import { UsageError } from './exit-codes.js';

export interface FlagSpec {
  type: 'string' | 'boolean';
  /** How its value is written in help, e.g. `<duration>`. */
  value?: string;
  help: string;
  short?: string;
}
export type FlagSpecs = Record<string, FlagSpec>;
export type FlagValues = Record<string, string | boolean | undefined>;

/**
 * Flags of one command, strictly: an unknown flag, a flag without its value or a boolean given a value is a
 * usage error that names it and lists what the command accepts. `positionals` are allowed only when asked.
 */
export function parseFlags(command: string, args: string[], specs: FlagSpecs, allowPositionals = false): { values: FlagValues; positionals: string[] } {
  const options = Object.fromEntries(Object.entries(specs).map(([name, s]) => [name, { type: s.type, ...(s.short ? { short: s.short } : {}) }]));
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  const accepted = Object.keys(specs).map((name) => `--${name}`).join(', ');
  const values: FlagValues = {};
  const positionals: string[] = [];
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') {
      if (!allowPositionals) throw new UsageError(`\`master-process ${command}\` takes no argument ${JSON.stringify(token.value)}. Accepted: ${accepted}.`);
      positionals.push(token.value);
      continue;
    }
    const spec = specs[token.name];
    if (!spec) throw new UsageError(`unknown option ${token.rawName} for \`master-process ${command}\`. Accepted: ${accepted}.`);
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`option --${token.name} takes no value (got ${JSON.stringify(token.value)}).`);
      values[token.name] = true;
      continue;
    }
    // Non-strict parseArgs takes the next word as the value even when it is a flag: `--workers --json`.
    if (token.value === undefined || (!token.inlineValue && token.value.startsWith('-'))) {
      throw new UsageError(`option --${token.name} needs a value: --${token.name} ${spec.value ?? '<value>'}.`);
    }
    values[token.name] = token.value;
  }
  return { values, positionals };
}

/** Run a core parser (parseDuration, parseWorkers...) on a flag's value; its error names the flag, value and accepted forms. */
export function flagValue<T>(flag: string, value: string, parse: (value: unknown, source: { option: string }) => T): T {
  try {
    return parse(value, { option: `--${flag}` });
  } catch (error) {
    if (error instanceof MasterProcessError) throw new UsageError(error.message.replace(/^[^\s:]+: /, ''));
    throw error;
  }
}

export function helpText(usage: string, specs: FlagSpecs, footer = ''): string {
  const rows = Object.entries(specs).map(([name, s]) => [`  --${name}${s.value ? ` ${s.value}` : ''}`, s.help]);
  const width = Math.max(...rows.map(([left]) => left!.length)) + 2;
  return `${usage}\n\n${rows.map(([left, right]) => left!.padEnd(width) + right).join('\n')}\n${footer ? `\n${footer}\n` : ''}`;
}
