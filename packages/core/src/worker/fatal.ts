import { MESSAGE_KEY, type ControlMessage, type FatalError } from './protocol.js';

function describe(error: unknown): FatalError {
  if (!(error instanceof Error)) return { message: String(error) };
  const { code } = error as NodeJS.ErrnoException;
  return { name: error.name, ...(typeof code === 'string' ? { code } : {}), message: error.message };
}

/**
 * Tell the master the error that kills this worker (thrown at boot, a listen that failed, an unhandled
 * rejection). A monitor changes nothing: Node still prints the error and exits. The IPC write happens
 * before the exit (libuv writes to an idle pipe at once).
 */
export function reportFatalErrors(): void {
  process.on('uncaughtExceptionMonitor', (error) => {
    if (!process.connected || !process.send) return;
    const message: ControlMessage = { [MESSAGE_KEY]: 'fatal', error: describe(error) };
    try {
      process.send(message);
    } catch {
      /* the channel is closing: the master still sees the exit */
    }
  });
}
