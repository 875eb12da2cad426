// With captureStderr, a worker's fd 2 is a socket to the master (libuv makes stdio pipes from socketpairs), and
// Node writes to a socket asynchronously: a burst is queued in the worker, and whatever is still queued at
// process.exit() is lost (measured: 10 MB written in a loop, then exit: 85 KB arrived). Written to an inherited
// file or pipe it would have been synchronous. Blocking writes restore that: a write returns once the bytes
// are in the socket, so `console.error(err); process.exit(1)` loses nothing. The same call Node makes for
// stdio pipes on Windows.

interface BlockingHandle {
  setBlocking?(blocking: boolean): number;
}

export function blockingStderr(): void {
  const handle = (process.stderr as unknown as { _handle?: BlockingHandle })._handle;
  handle?.setBlocking?.(true);
}
