// Loaded with `--require` into every worker the master forks. It tells the master the error a worker dies of
// (so a failed start says why), and changes exactly these things in the worker:
// - it listens for the master's `retire` message (always: see retire.ts), so the app hears at once that it
//   leaves rotation, an app that handles SIGTERM gets it before it exits, and the master learns when the
//   worker has drained;
// - if the master dies without retiring it, the worker does not exit at once (as Node's cluster worker
//   would), but retires itself: it stops accepting, finishes what it accepted, then exits (see orphan.ts);
// - every HTTP(S) and HTTP/2 server that listens gets the graceful drain (see drain.ts): `server.close()` no
//   longer destroys idle keep-alive sockets at once, and responses sent while draining say `Connection: close`
//   (opt out: master option `drain: false`);
// - with captureStderr (opt out: `captureStderr: false`), writes to stderr block, as they do to an inherited
//   pipe or file (see stderr.ts).
// It also loads the worker halves of the master's plugins (see plugins.ts), before the app. (The watchdog
// runs beside the master, not in the workers: see ../watchdog.ts.)
import cluster from 'node:cluster';
import { drainEveryServer } from './drain.js';
import { reportFatalErrors } from './fatal.js';
import { installOrphanGrace } from './orphan.js';
import { loadWorkerPlugins } from './plugins.js';
import { ENV } from './protocol.js';
import { installRetirement } from './retire.js';
import { blockingStderr } from './stderr.js';

if (cluster.isWorker && process.env[ENV.WORKER] === '1') {
  reportFatalErrors();
  installRetirement();
  installOrphanGrace();
  if (process.env[ENV.AUTO_DRAIN] === '1') drainEveryServer();
  if (process.env[ENV.STDERR_PIPED] === '1') blockingStderr();
  loadWorkerPlugins();
}
