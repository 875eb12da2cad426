import type { Readable } from 'node:stream';

// A worker's stderr, piped through the master (option `captureStderr`): every byte goes on to the
// master's own stderr unchanged and in order, and the last few lines are kept for reports (a failed
// reload names the worker and shows why it died).

const TAIL_BYTES = 8192;
const TAIL_LINES = 30;
/** How long an exit waits for the rest of the worker's stderr (the exit may be seen before the pipe's last bytes). */
export const STDERR_SETTLE_MS = 250;

/** The last `TAIL_BYTES` a stream wrote; memory stays bounded whatever it writes. */
export class OutputTail {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private cut = false;

  push(chunk: Buffer): void {
    if (chunk.length >= TAIL_BYTES) {
      // A copy: a slice would keep the whole (up to 64 KiB) chunk alive.
      this.chunks = [Buffer.from(chunk.subarray(chunk.length - TAIL_BYTES))];
      this.bytes = TAIL_BYTES;
      this.cut = true;
      return;
    }
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.bytes - this.chunks[0]!.length >= TAIL_BYTES) {
      this.bytes -= this.chunks.shift()!.length;
      this.cut = true;
    }
  }

  /** The last lines (at most `TAIL_LINES`, `TAIL_BYTES`), or undefined if nothing was written. */
  text(): string | undefined {
    if (this.bytes === 0) return undefined;
    let buffer = Buffer.concat(this.chunks);
    let cut = this.cut;
    if (buffer.length > TAIL_BYTES) {
      buffer = buffer.subarray(buffer.length - TAIL_BYTES);
      cut = true;
    }
    const lines = buffer.toString('utf8').split('\n');
    if (cut) lines.shift(); // a partial first line
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-TAIL_LINES).join('\n') || undefined;
  }
}

/** PIPE_BUF on Linux: a write of at most this many bytes to a pipe is never interleaved with other writers'. */
const ATOMIC_WRITE = 4096;
/** A partial line waits this long for its end before it is written as it is (a prompt, a progress bar). */
const PARTIAL_LINE_MS = 100;
const NEWLINE = 0x0a;

/**
 * Forward `stream` to the master's stderr, byte for byte, keeping its tail. Without the master in between,
 * each of a worker's writes reached the shared stderr whole; the pipe loses those boundaries, so the master
 * writes whole lines, in writes of at most PIPE_BUF bytes cut at line ends: two workers' lines never mix
 * (a single line longer than PIPE_BUF could mix before too). A partial line is held until its end arrives,
 * at most `PARTIAL_LINE_MS`. process.stderr writes are synchronous for files, pipes and TTYs on Linux, so
 * nothing is reordered; when one does buffer (write returned false), the worker's pipe is paused until it
 * drains, so the master's memory stays bounded. Resolves once the stream has closed and everything is written.
 */
export function forwardStderr(stream: Readable, tail: OutputTail): Promise<void> {
  let partial: Buffer | undefined;
  let timer: NodeJS.Timeout | undefined;
  const write = (bytes: Buffer) => {
    if (!process.stderr.write(bytes)) {
      stream.pause();
      process.stderr.once('drain', () => stream.resume());
    }
  };
  const flushPartial = () => {
    clearTimeout(timer);
    timer = undefined;
    if (partial) write(partial);
    partial = undefined;
  };
  stream.on('data', (chunk: Buffer) => {
    tail.push(chunk);
    const data = partial ? Buffer.concat([partial, chunk]) : chunk;
    partial = undefined;
    clearTimeout(timer);
    let start = 0;
    const end = data.lastIndexOf(NEWLINE) + 1;
    while (end - start > ATOMIC_WRITE) {
      let cut = data.lastIndexOf(NEWLINE, start + ATOMIC_WRITE - 1) + 1;
      if (cut <= start) cut = data.indexOf(NEWLINE, start + ATOMIC_WRITE) + 1; // one long line: whole
      write(data.subarray(start, cut));
      start = cut;
    }
    if (end > start) write(data.subarray(start, end));
    if (end < data.length) {
      partial = Buffer.from(data.subarray(end));
      if (partial.length >= ATOMIC_WRITE * 16) flushPartial();
      else {
        const waiting = partial;
        // After a stalled loop the timer runs before the pending read of the line's end: flush only after
        // the next poll phase (setImmediate), and only if that read did not complete the line.
        timer = setTimeout(() => setImmediate(() => partial === waiting && flushPartial()), PARTIAL_LINE_MS).unref();
      }
    }
  });
  // A read error (EIO) ends forwarding for this worker; it must never crash the master.
  stream.on('error', () => {});
  return new Promise((resolve) => stream.once('close', () => {
    flushPartial();
    resolve();
  }));
}
