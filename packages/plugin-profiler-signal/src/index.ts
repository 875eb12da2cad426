import { profilerSignal } from './plugin.js';

export { profilerSignal, type ProfilerEvent, type ProfilerSignalApi } from './plugin.js';
export type { ProfilerSignalOptions } from './options.js';
export default profilerSignal;
