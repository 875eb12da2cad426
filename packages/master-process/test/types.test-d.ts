// Compile-only (pnpm typecheck): each official plugin package adds its api to core's PluginApis.
import type { Master } from '@master-process/core';
import type { MonitorApi } from '@master-process/plugin-monitor';
import type { ProfilerSignalApi } from '@master-process/plugin-profiler-signal';
import type { VersionGuardApi } from '@master-process/plugin-version-guard';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function expectType<_ extends true>(): void {}

declare const master: Master;
const monitor = master.plugin('monitor');
expectType<Equal<typeof monitor, MonitorApi | undefined>>();
const profiler = master.plugin('profiler-signal');
expectType<Equal<typeof profiler, ProfilerSignalApi | undefined>>();
const guard = master.plugin('version-guard');
expectType<Equal<typeof guard, VersionGuardApi | undefined>>();
