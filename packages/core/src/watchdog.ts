import { spawn, type ChildProcess } from 'node:child_process';
import { isExecutable } from './executable.js';
import { createLogger, warn } from './log.js';

const log = createLogger('core');

// A worker whose event loop is blocked cannot notice that its master died (its IPC channel's
// `disconnect` never gets to run). One tiny process per master, the reaper, watches for all of them:
// it reads `+pid` / `-pid` lines from a pipe only the master holds. However the master dies (SIGKILL,
// OOM), the kernel closes that pipe. At EOF the workers still listed are orphans: each one that can run
// sees the same disconnect and drains (worker/orphan.ts), so the reaper gives them the grace (the
// master's kill timeout), then SIGKILLs those still there (a blocked loop) and exits; it leaves as soon
// as none is left. The workers run nothing for it, so it costs them nothing at boot or in memory.
// It ignores the signals a terminal or a process-group kill sends (Ctrl-C reaches the whole foreground
// group): the master stops its workers itself, and the reaper leaves when the pipe closes.
// Pid reuse: a worker is unlisted in the same tick the master reaps it, and the reaper acts only at EOF,
// after every line before it; so at EOF every listed pid is a worker. An orphan that exits during the
// grace is reaped by someone else, and its pid may be given to a new process: so at EOF the reaper records
// each pid's start time (/proc/<pid>/stat, field 22; a zombie counts as gone) and, at the end of the grace,
// kills only a pid that still has it. Without /proc (macOS, the BSDs) it cannot tell, and kills at EOF, as
// before the grace existed: a stranger's process is never at risk.
export const SH_REAPER = (master: number, graceMs: number) => `# master-process watchdog: the workers of master ${master}
trap '' HUP INT TERM QUIT
pids=' '
while read -r line; do
  p=\${line#?}
  case $line in
    +*) pids="$pids$p " ;;
    -*) case $pids in *" $p "*) pids="\${pids%% "$p" *} \${pids#* "$p" }" ;; esac ;;
  esac
done
if [ ! -r /proc/$$/stat ]; then for p in $pids; do kill -9 "$p" 2>/dev/null; done; exit 0; fi
stamp() { t=; read -r t < "/proc/$1/stat" || return 0; t=\${t##*) }; case $t in Z*) t= ;; *) set -- $t; shift 19; t=$1 ;; esac; }
left=
for p in $pids; do stamp "$p"; [ -n "$t" ] && left="$left$p:$t "; done
n=${Math.max(1, Math.ceil(graceMs / 1000))}
while [ -n "$left" ]; do
  still=
  for e in $left; do stamp "\${e%:*}"; [ "$t" = "\${e#*:}" ] && still="$still$e "; done
  left=$still
  [ -n "$left" ] || break
  if [ "$n" -le 0 ]; then for e in $left; do kill -9 "\${e%:*}" 2>/dev/null; done; break; fi
  sleep 1
  n=$((n - 1))
done`;

// The same in Node, where there is no shell (distroless images): a second Node process (~40 MB), once per master.
export const NODE_REAPER = (graceMs: number) => `// master-process watchdog
const { readFileSync } = require('fs');
const pids = new Set();
for (const s of ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGQUIT']) process.on(s, () => {});
let rest = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  const lines = (rest + chunk).split('\\n');
  rest = lines.pop();
  for (const line of lines) (line[0] === '+' ? pids.add(line.slice(1)) : pids.delete(line.slice(1)));
});
const kill = (pid) => { try { process.kill(Number(pid), 'SIGKILL'); } catch {} };
const stamp = (pid) => {
  try {
    const stat = readFileSync('/proc/' + pid + '/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? '' : fields[19];
  } catch { return ''; }
};
process.stdin.on('end', () => {
  if (!stamp(process.pid)) { pids.forEach(kill); process.exit(0); }
  let left = [...pids].map((pid) => [pid, stamp(pid)]).filter(([, t]) => t);
  const deadline = Date.now() + ${graceMs};
  const check = () => {
    left = left.filter(([pid, t]) => stamp(pid) === t);
    if (left.length > 0 && Date.now() >= deadline) left.forEach(([pid]) => kill(pid));
    if (left.length === 0 || Date.now() >= deadline) process.exit(0);
    setTimeout(check, Math.min(250, deadline - Date.now()));
  };
  check();
});`;


/** A reaper that lived shorter than this is not restarted: it cannot run here, and saying so once is enough. */
const MIN_LIFETIME = 1000;

export interface WatchdogOptions {
  /** How long the orphans of a dead master have to finish (ms): the master's kill timeout. */
  grace: number;
  /** The master's pid (named in the reaper's command line). */
  master?: number;
  /** The shell that runs the reaper; where it is missing, a second Node process does. */
  shell?: string;
}

/**
 * The master's watchdog: one reaper process that, if the master dies, SIGKILLs the listed workers still
 * running after the grace. `watch` a worker when it is forked, `unwatch` it when it has exited, `close()`
 * once none is left.
 */
export class Watchdog {
  private child?: ChildProcess;
  private readonly pids = new Set<number>();
  private closed = false;
  private startedAt = 0;
  private readonly grace: number;
  private readonly master: number;
  private readonly shell: string;

  constructor(options: WatchdogOptions) {
    this.grace = Math.max(0, Math.ceil(options.grace));
    this.master = options.master ?? process.pid;
    this.shell = options.shell ?? '/bin/sh';
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

  /** Close the pipe: the reaper gives whatever is still listed (nothing, after a stop) the grace, and exits. */
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
    const child = spawn(command, shell ? ['-c', SH_REAPER(this.master, this.grace)] : ['-e', NODE_REAPER(this.grace)], {
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
