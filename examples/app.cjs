// An ordinary HTTP app, written the master-process 4.x way: the same file is the master and the workers.
const cluster = require('node:cluster');
const http = require('node:http');

if (cluster.isPrimary) {
  require('master-process').init();
  return;
}

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ pid: process.pid, worker: Number(process.env.WORKER_INDEX), generation: Number(process.env.RELOAD_INDEX) }));
});
server.listen(process.env.PORT || 3000);

// The plain way an app stops. master-process sends SIGTERM only once the worker is out of rotation and drained.
process.on('SIGTERM', () => server.close(() => process.exit(0)));
