// The wire format between a plugin's master half and its worker halves.
// Node delivers a message whose `cmd` starts with `NODE_` as `internalMessage` (lib/internal/child_process.js,
// `isInternal`; cluster's own `NODE_CLUSTER` travels the same way): neither the app's
// `process.on('message')` / `cluster.worker.on('message')` nor the master's `worker.on('message')` (the
// core `worker:message` event) ever see these, and cluster ignores every `cmd` but its own.
export const PLUGIN_CMD = 'NODE_MASTER_PROCESS_PLUGIN';

/** Environment variable with the worker halves (JSON `WorkerHalfSpec[]`) the preload loads in every worker. */
export const PLUGINS_ENV = 'MASTER_PROCESS_PLUGINS';

export interface WorkerHalfSpec {
  /** The plugin's name: the namespace of its requests. */
  name: string;
  /** Absolute path of the module. */
  module: string;
  options?: unknown;
}

/** An error as it crosses the channel (an Error does not survive JSON). */
export interface WireError {
  message: string;
  name?: string;
  code?: string;
  stack?: string;
}

export type PluginWireMessage =
  | { cmd: typeof PLUGIN_CMD; kind: 'request'; id: number; plugin: string; type: string; payload?: unknown }
  | { cmd: typeof PLUGIN_CMD; kind: 'reply'; id: number; ok: true; value?: unknown }
  | { cmd: typeof PLUGIN_CMD; kind: 'reply'; id: number; ok: false; error: WireError; noHandler?: boolean }
  | { cmd: typeof PLUGIN_CMD; kind: 'failed'; plugin: string; module: string; error: WireError }
  /** A worker half's own message to its master half (`context.send`): emitted on the master as `plugin:message`. */
  | { cmd: typeof PLUGIN_CMD; kind: 'message'; plugin: string; type: string; payload?: unknown };

export function isPluginMessage(message: unknown): message is PluginWireMessage {
  return typeof message === 'object' && message !== null && (message as { cmd?: unknown }).cmd === PLUGIN_CMD;
}

export function toWire(error: unknown): WireError {
  if (!(error instanceof Error)) return { message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { message: error.message, name: error.name, stack: error.stack, ...(typeof code === 'string' ? { code } : {}) };
}

/** The default export of a module loaded with require(), CJS (`module.exports`) or ESM (`default`). */
export function setupOf(mod: unknown): Function {
  if (typeof mod === 'function') return mod;
  const fn = (mod as { default?: unknown } | null)?.default;
  if (typeof fn === 'function') return fn;
  const what = mod !== null && typeof mod === 'object' ? `an object with keys: ${Object.keys(mod).join(', ') || 'none'}` : String(mod);
  throw new TypeError(`has no function as its default export (it exports ${what}). Export the setup function: \`export default function (context) {...}\` or \`module.exports = function (context) {...}\`.`);
}
