import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  createMaster, MasterProcessError, parseDuration, parseNumber, parseOneOf, parseWorkers, type MasterOptions, type Plugin,
} from '@master-process/core';
import { ENV, parseName } from '@master-process/plugin-control';
import { defaultPlugins } from '../init.js';
import { CONFIG_FILES, loadConfig } from './config.js';
import { EXIT, UsageError } from './exit-codes.js';
import { flagValue, helpText, parseFlags, type FlagSpecs, type FlagValues } from './flags.js';

export const START_FLAGS: FlagSpecs = {
  workers: { type: 'string', value: '<n|max|auto>', help: 'number of workers (env WORKERS; default 1)' },
  'kill-timeout': { type: 'string', value: '<duration>', help: "a retiring worker's time to drain before SIGKILL (env MAX_KILL_TIMEOUT; default 5s)" },
  'ready-timeout': { type: 'string', value: '<duration>', help: 'a new worker not ready by then fails its fork; in a reload, the reload (default 30s)' },
  'ready-on': { type: 'string', value: '<listening|message>', help: "ready at the first listen (default), or when the app calls ready()" },
  probation: { type: 'string', value: '<duration>', help: 'new workers must stay up this long before the old ones retire (default 0)' },
  'reload-concurrency': { type: 'string', value: '<n>', help: 'slots replaced at once in a reload (default: all)' },
  throttle: { type: 'string', value: '<duration>', help: 'a worker that dies this soon after its start is replaced after the rest of it (env WORKER_THROTTLE; default 1s)' },
  port: { type: 'string', value: '<port|/path.sock>', help: 'PORT for the app (a path: a unix socket, see plugin-unix-socket)' },
  'no-drain': { type: 'boolean', help: 'do not preload the worker-side HTTP drain (env MASTER_PROCESS_DRAIN=0)' },
  config: { type: 'string', value: '<file>', help: `createMaster options, plugins included (default: ${CONFIG_FILES.join(', ')} in the working directory)` },
  name: { type: 'string', value: '<name>', help: `the master's name, for \`reload/status/stop --name\` (env ${ENV.NAME}; default: from the working directory)` },
  socket: { type: 'string', value: '<path>', help: `the control socket's path (env ${ENV.SOCKET}; default: <name>.sock in $XDG_RUNTIME_DIR/master-process/, else ./.master-process/)` },
  help: { type: 'boolean', short: 'h', help: 'this help' },
};

export const START_HELP = helpText(
  'master-process start [options] <app.js> [app arguments...]\n\nRun an app under a master, in the foreground: the app needs no change (it listens on PORT; SIGTERM\ncloses its server). SIGHUP or `master-process reload` reloads it; SIGTERM or `master-process stop` stops\nit. Exits with the master\'s exit code. Flags win over the config file, which wins over the environment.',
  START_FLAGS,
);

const VALUE_FLAGS = new Set(Object.entries(START_FLAGS).filter(([, s]) => s.type === 'string').map(([name]) => `--${name}`));

/** Flags before the app belong to us; the app and everything after it to the app. */
export function splitStart(args: string[]): { flags: string[]; app?: string; appArgs: string[] } {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return { flags: args.slice(0, i), ...(args[i + 1] !== undefined ? { app: args[i + 1] } : {}), appArgs: args.slice(i + 2) };
    if (!arg.startsWith('-') || arg === '-') return { flags: args.slice(0, i), app: arg, appArgs: args.slice(i + 1) };
    if (VALUE_FLAGS.has(arg)) i++; // its value
  }
  return { flags: args, appArgs: [] };
}

/** Flags as createMaster options (numbers already checked, so a bad value names the flag). */
function flagOptions(values: FlagValues): MasterOptions {
  const text = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const duration = (name: string, min: number) => {
    const v = text(name);
    return v === undefined ? undefined : flagValue(name, v, (x, s) => parseDuration(x, s, 'master-process', min));
  };
  const options: MasterOptions = {};
  const workers = text('workers');
  if (workers !== undefined) options.workers = flagValue('workers', workers, parseWorkers);
  const killTimeout = duration('kill-timeout', 1);
  if (killTimeout !== undefined) options.killTimeout = killTimeout;
  const readyTimeout = duration('ready-timeout', 1);
  if (readyTimeout !== undefined) options.readyTimeout = readyTimeout;
  const readyOn = text('ready-on');
  if (readyOn !== undefined) options.readyOn = flagValue('ready-on', readyOn, (v, s) => parseOneOf(['listening', 'message'] as const)(v, s, 'master-process'));
  const probation = duration('probation', 0);
  const concurrency = text('reload-concurrency');
  if (probation !== undefined || concurrency !== undefined) {
    options.reload = {
      ...(probation !== undefined ? { probation } : {}),
      ...(concurrency !== undefined ? { concurrency: flagValue('reload-concurrency', concurrency, (v, s) => parseNumber(v, s, { integer: true, min: 1 }, 'master-process')) } : {}),
    };
  }
  const throttle = duration('throttle', 0);
  if (throttle !== undefined) options.crash = { throttle };
  if (values['no-drain']) options.drain = false;
  return options;
}

/** The config's options under the flags' (nested `reload` and `crash` merged key by key). */
function merge(config: MasterOptions, flags: MasterOptions): MasterOptions {
  if (flags.crash && config.crash === 'exit') throw new UsageError('--throttle has no effect with `crash: "exit"` in the config file: drop one of them.');
  return {
    ...config,
    ...flags,
    ...(config.reload || flags.reload ? { reload: { ...config.reload, ...flags.reload } } : {}),
    ...(typeof flags.crash === 'object' ? { crash: { ...(typeof config.crash === 'object' ? config.crash : {}), ...flags.crash } } : {}),
  };
}

/** The built-in plugins, each replaced by a config plugin of the same name; other config plugins after them. */
function withPlugins(builtIn: Plugin[], configured: unknown): Plugin[] {
  if (configured === undefined) return builtIn;
  if (!Array.isArray(configured)) return configured as Plugin[]; // createMaster says what is wrong with it
  const byName = new Map(configured.map((p) => [(p as Plugin | null)?.name, p as Plugin]));
  return [...builtIn.map((p) => byName.get(p.name) ?? p), ...configured.filter((p) => !builtIn.some((b) => b.name === (p as Plugin | null)?.name))];
}

export async function start(args: string[]): Promise<number | undefined> {
  const { flags, app, appArgs } = splitStart(args);
  const { values } = parseFlags('start', flags, START_FLAGS);
  if (values.help) return process.stdout.write(START_HELP), EXIT.OK;
  const cwd = process.cwd();
  const name = typeof values.name === 'string' ? flagValue('name', values.name, parseName) : undefined;
  const socket = typeof values.socket === 'string' ? resolve(cwd, values.socket) : undefined;
  if (typeof values.port === 'string') {
    const port = values.port;
    if (!(/^\d+$/.test(port) && Number(port) > 0 && Number(port) < 65536) && !port.startsWith('/')) {
      throw new UsageError(`invalid option \`--port\`: got ${JSON.stringify(port)}. Accepted: a TCP port from 1 to 65535, or an absolute unix socket path.`);
    }
    process.env.PORT = port; // the app and plugin-unix-socket read PORT
  }
  const fromFlags = flagOptions(values);
  const config = await loadConfig(typeof values.config === 'string' ? values.config : undefined, cwd);
  const exec = app !== undefined ? resolve(cwd, app) : config.options.exec;
  if (exec === undefined) throw new UsageError('start needs the app to run: `master-process start [options] <app.js> [app arguments...]` (or `exec` in the config file).');
  if (!existsSync(exec)) throw new UsageError(`cannot start ${app ?? exec}: no such file.`);
  const { plugins: configured, ...rest } = config.options;
  const configuresControl = Array.isArray(configured) && configured.some((p) => (p as Plugin | null)?.name === 'control');
  if (configuresControl && (name !== undefined || socket !== undefined)) {
    throw new UsageError(`--name and --socket set the built-in control plugin, but ${config.file} brings its own control(): set its name/path there.`);
  }
  let master;
  try {
    // The version guard watches the master-process this CLI runs from, and the app's link to it if it has one.
    const builtIn = defaultPlugins(exec, { control: { ...(name ? { name } : {}), ...(socket ? { path: socket } : {}) } });
    master = createMaster({
      ...merge(rest, fromFlags),
      exec,
      // Never the CLI's own arguments, which core would pass on by default.
      args: app !== undefined ? appArgs : (rest.args ?? []),
      plugins: withPlugins(builtIn, configured),
    });
  } catch (error) {
    if (error instanceof MasterProcessError) throw new UsageError(`${config.file ? `${config.file}: ` : ''}${error.message.replace(/^[^\s:]+: /, '')}`);
    throw error;
  }
  // A failed start is printed by the master, which stops and exits 1; every later exit is the master's too.
  master.start().catch(() => {});
  return undefined;
}
