/** What this plugin reads of the monitor plugin's api (`master.plugin('monitor')`), without importing it. */
export interface MonitorLike {
  usage?(): { pid: number; memoryMB: number; cpu: number }[];
}
