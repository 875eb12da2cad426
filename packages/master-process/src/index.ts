// master-process: everything in one dependency. It only re-exports and wires; the logic lives in
// @master-process/core and the plugins.
export * from '@master-process/core';
export { control, connectControl, ControlErrorCode, type ControlApi, type ControlClient, type ControlOptions, type Status } from '@master-process/plugin-control';
export { exposeRegistry, metrics, MetricsErrorCode, type MetricsApi, type MetricsOptions } from '@master-process/plugin-metrics';
export { monitor, type MonitorApi, type MonitorOptions } from '@master-process/plugin-monitor';
export { profilerSignal, type ProfilerSignalApi, type ProfilerSignalOptions } from '@master-process/plugin-profiler-signal';
export { activatedSockets, systemd, type ActivatedSocket, type SystemdOptions } from '@master-process/plugin-systemd';
export { unixSocket, type UnixSocketOptions } from '@master-process/plugin-unix-socket';
export { versionGuard, type VersionGuardApi, type VersionGuardOptions } from '@master-process/plugin-version-guard';
export { defaultPlugins, init } from './init.js';
