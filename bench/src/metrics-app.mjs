// The metrics scenario's app: `GET /` answers 200 {"pid","slot","gen"} at once, as testkit's fixture app does,
// and the app is instrumented with prom-client the way HTTP services usually are: prom-client's default
// metrics, and on every response a request counter and a request-duration histogram (default buckets) by
// method, route and status. A plain app: only its server holds the event loop; SIGTERM closes it.
import http from 'node:http';
import client from 'prom-client';

client.collectDefaultMetrics();
const labelNames = ['method', 'route', 'code'];
const requests = new client.Counter({ name: 'http_requests_total', help: 'HTTP requests answered.', labelNames });
const duration = new client.Histogram({ name: 'http_request_duration_seconds', help: 'Time to answer an HTTP request.', labelNames });

const ident = { pid: process.pid, slot: Number(process.env.WORKER_INDEX ?? 0), gen: Number(process.env.RELOAD_INDEX ?? 0) };
const body = JSON.stringify(ident);

const server = http.createServer((req, res) => {
  const end = duration.startTimer();
  const route = req.url === '/' ? '/' : 'unmatched';
  res.on('finish', () => {
    const labels = { method: req.method, route, code: String(res.statusCode) };
    requests.inc(labels);
    end(labels);
  });
  res.writeHead(route === '/' ? 200 : 404, { 'content-type': 'application/json' });
  res.end(route === '/' ? body : '{}');
});

process.on('SIGTERM', () => server.close());
server.listen(Number(process.env.PORT), () => process.stdout.write(`${JSON.stringify({ app: 'listening', ...ident, t: Date.now() })}\n`));
