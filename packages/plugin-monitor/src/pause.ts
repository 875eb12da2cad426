/**
 * Monitoring is paused while any source holds a pause: a profiler resuming does not undo a pause a
 * worker asked for. Workers share one source, `worker`, as in 4.x any worker could resume what another paused.
 */
export class PauseState {
  private readonly holders = new Map<string, string | undefined>();

  get paused(): boolean {
    return this.holders.size > 0;
  }

  get sources(): string[] {
    return [...this.holders.keys()];
  }

  /** Returns true when this changed the state (running → paused). */
  pause(source: string, reason?: string): boolean {
    const was = this.paused;
    this.holders.set(source, reason);
    return !was;
  }

  /** Returns true when this changed the state (paused → running). */
  resume(source: string): boolean {
    const was = this.paused;
    this.holders.delete(source);
    return was && !this.paused;
  }
}
