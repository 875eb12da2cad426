// Compile-only: `pnpm typecheck` (tsc) fails when a type below is wrong. Never run.
import { createMaster, definePlugin, type Master, type Plugin, type WorkerReply } from '../src/index.js';
import type { WorkerPluginContext, WorkerPluginSetup } from '../src/worker/index.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<_ extends true>(): void {}

interface CounterApi {
  count(): number;
}
declare module '../src/types.js' {
  interface PluginApis {
    counter: CounterApi;
  }
}

// A factory: options typed by its parameter, the api kept, hook parameters typed.
export const counter = definePlugin((options: { every?: number } = {}) => ({
  name: 'counter',
  version: '1.0.0',
  core: '>=0.0.0',
  requires: ['monitor', { name: 'metrics', version: '^2.0.0', optional: true }],
  api: { count: () => options.every ?? 0 } satisfies CounterApi,
  setup(master) {
    expectType<Equal<typeof master, Master>>();
  },
  beforeFork(fork) {
    fork.env.X = String(fork.slot);
  },
}));
expectType<Equal<Parameters<typeof counter>, [options?: { every?: number }]>>();
expectType<Equal<ReturnType<typeof counter>, Plugin<{ count: () => number }>>>();
// @ts-expect-error options are typed
counter({ every: 'often' });

// A plain object.
const plain = definePlugin({ name: 'plain', onExit: (info) => void info.code });
expectType<Equal<typeof plain, Plugin<unknown>>>();
// @ts-expect-error unknown hooks are refused by the type too
definePlugin({ name: 'typo', beforFork() {} });
// @ts-expect-error a hook's parameters are typed
definePlugin({ name: 'bad', onSignal: (signal: number) => signal });

// master.plugin(name) is typed for names in PluginApis, generic otherwise.
declare const master: Master;
const api = master.plugin('counter');
expectType<Equal<typeof api, CounterApi | undefined>>();
const other = master.plugin<{ n: 1 }>('other');
expectType<Equal<typeof other, { n: 1 } | undefined>>();
const untyped = master.plugin('other');
expectType<Equal<typeof untyped, unknown>>();

// Falsy plugins are accepted (`cond && plugin()`).
declare const enabled: boolean;
declare const fromEnv: string;
createMaster({ plugins: [enabled && counter(), fromEnv && plain, null, undefined] });

// request/gather.
async function ask(): Promise<void> {
  const n = await master.request<number>(1, 'counter', 'count', undefined, { timeout: '2s' });
  expectType<Equal<typeof n, number>>();
  const replies = await master.gather<number>('counter', 'count');
  expectType<Equal<typeof replies, WorkerReply<number>[]>>();
  for (const reply of replies) if (reply.ok) expectType<Equal<typeof reply.value, number>>();
}
void ask;

// The worker half.
const setup: WorkerPluginSetup<{ every: number }> = (context) => {
  expectType<Equal<typeof context, WorkerPluginContext<{ every: number }>>>();
  const off = context.handle<{ reset: boolean }, number>('count', (payload) => (payload.reset ? 0 : context.options.every));
  off();
};
void setup;
