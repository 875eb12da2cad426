import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createLogger, warn } from './log.js';

const log = createLogger('core');

// A worker whose event loop is blocked cannot notice that its master died (its IPC channel's
// `disconnect` never gets to run). One tiny process per master, the reaper, watches for all of them:
// it reads `+pid` / `-pid` lines from a pipe only the master holds. However the master dies (SIGKILL,
// OOM), the kernel closes that pipe; at EOF the reaper SIGKILLs the pids still listed and exits. The
// workers run nothing for it, so it costs them nothing at boot or in memory.
// It ignores the signals a terminal or a process-group kill sends (Ctrl-C reaches the whole foreground
// group): the master stops its workers itself, and the reaper leaves when the pipe closes.
// Pid reuse: a worker is unlisted in the same tick the master reaps it, and the reaper acts only at EOF,
// after every line before it; so while the master lives, no listed pid can belong to anyone else. At the
// master's death the reaper kills at once, while the orphans it lists have just lost their parent.
const SH_REAPER = (master: number) => `# master-process watchdog: SIGKILLs the workers of master ${master} if it dies
trap '' HUP INT TERM QUIT
pids=' '
while read -r line; do
  p=\${line#?}
  case $line in
    +*) pids="$pids$p " ;;
    -*) case $pids in *" $p "*) pids="\${pids%% "$p" *} \${pids#* "$p" }" ;; esac ;;
  esac
done
for p in $pids; do kill -9 "$p" 2>/dev/null; done`;

// The same in Node, where there is no shell (distroless images): a second Node process (~40 MB), once per master.
const NODE_REAPER = `// master-process watchdog
const pids = new Set();
for (const s of ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGQUIT']) process.on(s, () => {});
let rest = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  const lines = (rest + chunk).split('\\n');
  rest = lines.pop();
  for (const line of lines) (line[0] === '+' ? pids.add(line.slice(1)) : pids.delete(line.slice(1)));
});
process.stdin.on('end', () => {
  for (const pid of pids) try { process.kill(Number(pid), 'SIGKILL'); } catch {}
  process.exit(0);
});`;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A reaper that lived shorter than this is not restarted: it cannot run here, and saying so once is enough. */
const MIN_LIFETIME = 1000;

/**
 * The master's watchdog: one reaper process that SIGKILLs the listed workers if the master dies.
 * `watch` a worker when it is forked, `unwatch` it when it has exited, `close()` once none is left.
 */
export class Watchdog {
  private child?: ChildProcess;
  private readonly pids = new Set<number>();
  private closed = false;
  private startedAt = 0;

  constructor(
    private readonly master = process.pid,
    /** The shell that runs the reaper; where it is missing, a second Node process does. */
    private readonly shell = '/bin/sh',
  ) {
    this.spawn();
  }

  /** The reaper's pid while it runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  watch(pid: number): void {
    if (!Number.isInteger(pid) || pid <= 0) return;
    this.pids.add(pid);
    this.write(`+${pid}`);
  }

  unwatch(pid: number): void {
    if (this.pids.delete(pid)) this.write(`-${pid}`);
  }

  /** Close the pipe: the reaper kills whatever is still listed (nothing, after a stop) and exits. */
  close(): void {
    this.closed = true;
    this.child?.stdin?.end();
    this.child = undefined;
  }

  private write(line: string): void {
    this.child?.stdin?.write(`${line}\n`);
  }

  private spawn(): void {
    const shell = isExecutable(this.shell);
    const command = shell ? this.shell : process.execPath;
    const child = spawn(command, shell ? ['-c', SH_REAPER(this.master)] : ['-e', NODE_REAPER], {
      // Nothing of the master's: no stdout/stderr to hold open, no environment (NODE_OPTIONS could preload an APM).
      stdio: ['pipe', 'ignore', 'ignore'],
      env: {},
      windowsHide: true,
    });
    // The reaper never holds the master's event loop open: a master with nothing left to do still exits.
    child.unref();
    child.stdin?.on('error', () => {}); // EPIPE once the reaper is gone: its exit says why
    child.once('error', (error) => {
      if (child !== this.child) return;
      this.child = undefined;
      warn(`watchdog: could not start ${command} (${error.message}): a worker whose event loop is blocked will not be killed if this master dies. Set watchdog: false to silence this.`);
    });
    child.once('exit', (code, signal) => {
      if (child !== this.child || this.closed) return;
      this.child = undefined;
      const lived = Date.now() - this.startedAt;
      log('watchdog: reaper %d exited (code %s, signal %s) after %d ms', child.pid, code, signal, lived);
      if (lived >= MIN_LIFETIME) return this.spawn();
      warn(`watchdog: ${command} exited at once (code ${code}, signal ${signal}): a worker whose event loop is blocked will not be killed if this master dies. Set watchdog: false to silence this.`);
    });
    this.startedAt = Date.now();
    this.child = child;
    log('watchdog: reaper %s started (%s)', child.pid ?? '-', command);
    for (const pid of this.pids) this.write(`+${pid}`);
  }
}
