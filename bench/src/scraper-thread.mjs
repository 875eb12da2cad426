// The metrics scenario's scraper, a thread of the bench process: its own event loop, so that a scrape's
// time is the endpoint's and not the wait for a turn of the load client's busy loop. It GETs the page as
// Prometheus does: at a fixed rate, one scrape at a time, on a kept-alive connection (a scrape slower than
// the interval delays the next one; no burst to catch up). On "stop" it posts what it saw and ends.
// workerData: { port, path, intervalMs, timeoutMs, series }: a page without `series` (one of the app's)
// counts as failed; one that says a worker did not answer (the plugin's scrape_workers gauge: answered <
// asked) is timed but counted as incomplete.
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

const { port, path, intervalMs, timeoutMs, series } = workerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const seen = { latencies: [], bytes: [], failures: {}, incomplete: 0 };
const gauge = (page, result) => Number(new RegExp(`^master_process_metrics_scrape_workers\\{result="${result}"\\} (\\d+)$`, 'm').exec(page)?.[1]);
let stopped = false;
let timer;
let wake;

/** One GET: the page; rejects with the failure's kind. */
function scrape() {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: timeoutMs }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const page = Buffer.concat(chunks);
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
        else if (!page.includes(series)) reject(new Error('no app metrics'));
        else resolve(page);
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

parentPort.on('message', (message) => {
  if (message !== 'stop') return;
  stopped = true;
  clearTimeout(timer);
  wake?.();
});

let next = performance.now();
while (!stopped) {
  const sentAt = performance.now();
  try {
    const page = await scrape();
    seen.latencies.push(performance.now() - sentAt);
    seen.bytes.push(page.length);
    const text = page.toString('latin1');
    if (!(gauge(text, 'answered') >= gauge(text, 'asked'))) seen.incomplete++;
  } catch (error) {
    const kind = error.code ?? error.message;
    seen.failures[kind] = (seen.failures[kind] ?? 0) + 1;
  }
  next = Math.max(next + intervalMs, performance.now());
  if (!stopped) await new Promise((resolve) => {
    wake = resolve;
    timer = setTimeout(resolve, next - performance.now());
  });
}
agent.destroy();
parentPort.postMessage(seen);
parentPort.close();
