import net from 'node:net';
import { MasterProcessError } from '@master-process/core';
import { ControlErrorCode } from './errors.js';
import { LineSplitter, encode, PROTOCOL_VERSION, SERVER_ID, type Command, type Hello, type Progress, type Reply, type RequestId } from './protocol.js';

export interface ConnectOptions {
  /** How long the master may take to say hello (default 10 s). */
  helloTimeout?: number;
}

/** A connection to a master's control socket. */
export interface ControlClient {
  readonly path: string;
  readonly hello: Hello;
  /**
   * Send a request. Progress lines go to `onProgress`; resolves with the result, or rejects with a
   * `MasterProcessError` carrying the master's error code, or `MP_ERR_CONTROL_LOST` when the connection
   * closed first (the outcome is then unknown).
   */
  request(cmd: Command, onProgress?: (progress: Progress) => void): Promise<unknown>;
  close(): void;
}

/** Replies are small, but a status of many workers is not tiny: a generous bound still stops a runaway peer. */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;

function connectError(path: string, error: NodeJS.ErrnoException): MasterProcessError {
  switch (error.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new MasterProcessError(ControlErrorCode.NO_MASTER, `no socket at ${path}`, { cause: error });
    case 'ECONNREFUSED':
      return new MasterProcessError(ControlErrorCode.STALE, `${path} is a stale socket: nothing answers on it (its master was killed?)`, { cause: error });
    case 'EACCES':
    case 'EPERM':
      return new MasterProcessError(ControlErrorCode.DENIED, `permission denied on ${path}: the control socket is only for the master's user (and its group, when one is configured)`, { cause: error });
    default:
      return new MasterProcessError(ControlErrorCode.NO_MASTER, `cannot connect to ${path}: ${error.code ?? error.message}`, { cause: error });
  }
}

export function connectControl(path: string, options: ConnectOptions = {}): Promise<ControlClient> {
  const helloTimeout = options.helloTimeout ?? 10_000;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path });
    const lines = new LineSplitter(MAX_REPLY_BYTES);
    const pending = new Map<RequestId, { resolve: (v: unknown) => void; reject: (e: Error) => void; onProgress?: (p: Progress) => void }>();
    let hello: Hello | undefined;
    let nextId = 1;
    let lastError: Error | undefined;

    const protocolError = (text: string) => new MasterProcessError(ControlErrorCode.PROTOCOL, `${path}: ${text}`);
    const abandon = (error: Error) => {
      clearTimeout(timer);
      reject(error);
      socket.destroy();
    };
    const timer = setTimeout(() => abandon(protocolError(`the connection was accepted but no hello came within ${helloTimeout} ms; is this a master-process control socket, and is its master's event loop responsive?`)), helloTimeout);
    timer.unref();

    const client: ControlClient = {
      path,
      get hello() {
        return hello!;
      },
      request(cmd, onProgress) {
        const id = nextId++;
        return new Promise((res, rej) => {
          if (socket.destroyed || !socket.writable) return rej(new MasterProcessError(ControlErrorCode.LOST, `the connection to ${path} is closed`));
          pending.set(id, { resolve: res, reject: rej, ...(onProgress ? { onProgress } : {}) });
          socket.write(encode({ id, cmd }));
        });
      },
      close: () => socket.end(),
    };

    const onReply = (reply: Reply) => {
      const waiter = pending.get(reply.id);
      if (!waiter) return; // a reply to no request of ours (an error about a line we did not send)
      if (reply.type === 'progress') return waiter.onProgress?.(reply);
      pending.delete(reply.id);
      if (reply.type === 'result') waiter.resolve(reply.result);
      else waiter.reject(new MasterProcessError(reply.error?.code ?? ControlErrorCode.PROTOCOL, reply.error?.message ?? 'an error without a message'));
    };

    const onLine = (line: string) => {
      let message: Reply | Hello;
      try {
        message = JSON.parse(line);
      } catch {
        return abandon(protocolError(`answered with something that is not JSON: ${line.slice(0, 80)}`));
      }
      if (hello) return onReply(message as Reply);
      if (message?.type === 'error' && (message as Reply & { type: 'error' }).error?.code === ControlErrorCode.BUSY) {
        const { code, message: text } = (message as Reply & { type: 'error' }).error;
        return abandon(new MasterProcessError(code, `${path}: ${text}`));
      }
      const h = message as Hello;
      if (h?.type !== 'hello' || h.server !== SERVER_ID) return abandon(protocolError('answered, but not as a master-process control socket'));
      if (h.protocol !== PROTOCOL_VERSION) {
        return abandon(protocolError(`the master speaks control protocol ${h.protocol}, this client ${PROTOCOL_VERSION}: use the same master-process version for the CLI and the master`));
      }
      hello = h;
      clearTimeout(timer);
      resolve(client);
    };

    socket.on('data', (chunk: Buffer) => {
      for (const line of lines.push(chunk)) if (line.trim() !== '') onLine(line);
      if (lines.overflow) abandon(protocolError(`sent a line longer than ${MAX_REPLY_BYTES} bytes`));
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      lastError = error;
      if (!hello) abandon(connectError(path, error));
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (!hello) reject(protocolError('closed the connection before its hello'));
      const why = lastError ? ` (${(lastError as NodeJS.ErrnoException).code ?? lastError.message})` : '';
      for (const waiter of pending.values()) {
        waiter.reject(new MasterProcessError(ControlErrorCode.LOST, `the connection to the master at ${path} closed before the reply${why}`));
      }
      pending.clear();
    });
  });
}
