// Loaded with `--require` into every worker the master forks (opt out: master option `drain: false`,
// `watchdog: false`). It tells the master the error a worker dies of (so a failed start says why), and
// changes exactly two things in the worker:
// - every HTTP(S) server that listens gets the graceful drain (see drain.ts): `server.close()` no longer
//   destroys idle keep-alive sockets at once, and responses sent while draining say `Connection: close`;
// - a watchdog thread kills the worker if its master dies, even when the worker's event loop is blocked.
// It also loads the worker halves of the master's plugins (see plugins.ts), before the app.
import cluster from 'node:cluster';
import { drainEveryServer } from './drain.js';
import { reportFatalErrors } from './fatal.js';
import { loadWorkerPlugins } from './plugins.js';
import { ENV } from './protocol.js';
import { startWatchdog } from './watchdog.js';

if (cluster.isWorker && process.env[ENV.WORKER] === '1') {
  reportFatalErrors();
  if (process.env[ENV.AUTO_DRAIN] === '1') drainEveryServer();
  if (process.env[ENV.WATCHDOG] === '1') startWatchdog(Number(process.env.PPID));
  loadWorkerPlugins();
}
