// The control protocol: one JSON object per line (UTF-8, "\n"-terminated), both ways.
//   master → client, at connect:  {"type":"hello","server":"@master-process/plugin-control","protocol":1,"pid":…,"name":…}
//   client → master:              {"id":1,"cmd":"status"|"reload"|"stop"}
//   master → client, per request: {"type":"progress","id":1,"event":…,…}* then {"type":"result","id":1,"result":…}
//                                 or {"type":"error","id":1,"error":{"code":"MP_ERR_…","message":…}}
// A new protocol version is a breaking change of these shapes; additions (new fields, events, commands) are not.

export const PROTOCOL_VERSION = 1;
export const SERVER_ID = '@master-process/plugin-control';
export const COMMANDS = ['status', 'reload', 'stop'] as const;
export type Command = (typeof COMMANDS)[number];
export type RequestId = string | number | null;

export interface Hello {
  type: 'hello';
  server: typeof SERVER_ID;
  protocol: number;
  /** The master's pid. */
  pid: number;
  /** The master's name (option `name`, MASTER_PROCESS_NAME, or the one derived from its working directory). */
  name: string;
}

export interface Progress {
  type: 'progress';
  id: RequestId;
  /** A core event name (`reload:start`, `reload:phase`, `worker:fork`, `worker:ready`, `worker:retire`, `worker:exit`, `master:stopping`) or `reload:queued`. */
  event: string;
  [field: string]: unknown;
}

export interface ReplyError {
  code: string;
  message: string;
}

export type Reply =
  | Progress
  | { type: 'result'; id: RequestId; result: unknown }
  | { type: 'error'; id: RequestId; error: ReplyError };

const NEWLINE = 0x0a;

/**
 * Splits a byte stream into lines, never holding more than `maxBytes` of an unfinished line: past it,
 * `overflow` is set and the rest of the stream should be ignored (a line that long is never a request).
 */
export class LineSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  overflow = false;

  constructor(readonly maxBytes: number) {}

  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    if (this.overflow) return lines;
    let start = 0;
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) {
      if (!this.take(chunk.subarray(start, end))) return lines;
      lines.push(Buffer.concat(this.parts).toString('utf8').replace(/\r$/, ''));
      this.parts = [];
      this.size = 0;
      start = end + 1;
    }
    this.take(chunk.subarray(start));
    return lines;
  }

  private take(piece: Buffer): boolean {
    if (this.size + piece.length > this.maxBytes) {
      this.overflow = true;
      this.parts = [];
      this.size = 0;
      return false;
    }
    if (piece.length > 0) {
      this.parts.push(piece);
      this.size += piece.length;
    }
    return true;
  }
}

export const encode = (message: object): string => `${JSON.stringify(message)}\n`;
