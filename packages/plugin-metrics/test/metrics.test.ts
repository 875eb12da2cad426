import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { httpGet, runLoad, sleep, waitUntil, type MasterHandle } from '@master-process/testkit';
import { scrape, startWithMetrics, value } from './helpers.js';

const handles: MasterHandle[] = [];
afterEach(async () => {
  await Promise.all(handles.splice(0).map((h) => h.cleanup()));
});
const track = <T extends { handle: MasterHandle }>(started: T): T => (handles.push(started.handle), started);

describe('metrics across reloads', () => {
  it('counters keep rising across 3 reloads under load and end equal to the responses the client got; the endpoint answers throughout', async () => {
    const { handle, port, metricsPort } = track(await startWithMetrics({ workers: 2, env: { METRICS_APP_CUSTOM: '1' } }));
    const load = runLoad({ target: { port }, connections: 4, keepAlive: true });
    const seen: number[] = [];
    const scrapeFailures: string[] = [];
    let scraping = true;
    const scraper = (async () => {
      while (scraping) {
        try {
          const page = await scrape(metricsPort);
          if (page.status !== 200) scrapeFailures.push(`status ${page.status}`);
          else seen.push(value(page.text, 'app_requests_total{route="/"}') ?? 0);
        } catch (error) {
          scrapeFailures.push((error as Error).message);
        }
        await sleep(100);
      }
    })();
    try {
      await waitUntil(() => seen.some((n) => n > 0), 30_000, 'a scrape that counts requests');
      for (let i = 0; i < 3; i++) await handle.reload();
      await waitUntil(() => load.samples.end.length > 0, 30_000, 'the load to run');
    } finally {
      load.stop();
    }
    const result = await load.done;
    scraping = false;
    await scraper;
    assert.equal(result.failed, 0, `failed requests: ${JSON.stringify(result.failures)}`);
    assert.deepEqual(scrapeFailures, [], 'every scrape during the reloads answered 200');
    assert.ok(seen.length >= 4, `${seen.length} scrapes`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!, `app_requests_total went back from ${seen[i - 1]} to ${seen[i]} (scrape ${i}): ${seen.join(', ')}`);

    const { text, type } = await scrape(metricsPort);
    assert.match(type, /^text\/plain; version=0\.0\.4/);
    // Every response the client got was counted once, by whichever generation served it: nothing lost at a reload.
    assert.equal(value(text, 'app_requests_total{route="/"}'), result.ok, text);
    assert.equal(value(text, 'app_request_duration_seconds_count'), result.ok);
    assert.equal(value(text, 'app_custom_total'), result.ok, 'a registry the app exposed is summed the same way');
    // A gauge is the live workers' only: one per slot, not one per worker that ever ran.
    assert.equal(value(text, 'app_info{slot="0"}'), 1);
    assert.equal(value(text, 'app_info{slot="1"}'), 1);
    assert.equal(value(text, 'master_process_reloads_total{outcome="ok"}'), 3);
    assert.equal(value(text, 'master_process_reloads_total{outcome="failed"}'), 0);
    assert.equal(value(text, 'master_process_reload_duration_seconds_count{outcome="ok"}'), 3);
    assert.equal(value(text, 'master_process_serving_generation'), 3);
    assert.equal(value(text, 'master_process_workers{state="ready",generation="3"}'), 2);
    assert.equal(value(text, 'master_process_workers_desired'), 2);
    assert.equal(value(text, 'master_process_metrics_scrape_errors_total{reason="timeout"}'), 0);
    assert.equal(value(text, 'master_process_metrics_scrape_workers{result="answered"}'), 2);
    assert.ok((value(text, 'master_process_uptime_seconds') ?? 0) > 0);
  });

  it('a crashed worker keeps its counts in the totals; the crash and the restart are counted for its slot', async () => {
    const { handle, port, metricsPort } = track(await startWithMetrics({ workers: 2 }));
    for (let i = 0; i < 40; i++) await httpGet({ port });
    const before = value((await scrape(metricsPort)).text, 'app_requests_total{route="/"}')!;
    assert.equal(before, 40);
    const [victim] = await handle.workers();
    process.kill(victim!.pid, 'SIGKILL');
    await handle.waitFor('worker:ready', (e) => e.args![0].reason === 'crash', { timeout: 60_000 });
    const { text } = await scrape(metricsPort);
    assert.equal(value(text, 'app_requests_total{route="/"}'), 40, 'the killed worker\'s requests are still counted');
    assert.equal(value(text, `master_process_worker_crashes_total{slot="${victim!.slot}"}`), 1);
    assert.equal(value(text, `master_process_worker_restarts_total{slot="${victim!.slot}"}`), 1);
  });
});

describe('workers that cannot answer', () => {
  it('a worker that never loads prom-client does not break a scrape: master metrics only, no error', async () => {
    const { metricsPort } = track(await startWithMetrics({ workers: 2, env: { METRICS_APP: 'none' } }));
    const { status, text } = await scrape(metricsPort);
    assert.equal(status, 200);
    assert.equal(value(text, 'master_process_workers{state="ready",generation="0"}'), 2);
    assert.equal(value(text, 'master_process_metrics_scrape_workers{result="answered"}'), 2);
    for (const reason of ['timeout', 'failed', 'invalid']) assert.equal(value(text, `master_process_metrics_scrape_errors_total{reason="${reason}"}`), 0);
    assert.ok(!/^app_/m.test(text), 'no app metrics');
  });

  it('back-to-back scrapes with prom-client\'s default metrics: every worker is in every page (a NaN it reports drops that value only)', async () => {
    const { metricsPort } = track(await startWithMetrics({ workers: 2, metrics: { timeout: '20s' }, env: { METRICS_APP_DEFAULTS: '1' } }));
    for (let i = 0; i < 30; i++) {
      const { text } = await scrape(metricsPort);
      assert.equal(value(text, 'master_process_metrics_scrape_workers{result="answered"}'), 2, `scrape ${i}`);
      assert.equal(value(text, 'master_process_metrics_scrape_errors_total{reason="invalid"}'), 0, `scrape ${i}`);
      assert.ok((value(text, 'nodejs_heap_size_total_bytes') ?? 0) > 0, 'the default metrics, summed');
    }
  });

  it('a blocked worker is left out after the timeout and counted; the scrape still answers, its counters from its last snapshot', async () => {
    const { handle, port, metricsPort } = track(await startWithMetrics({ workers: 2, metrics: { timeout: 1500 }, env: { DEBUG: 'master-process:metrics' } }));
    for (let i = 0; i < 20; i++) await httpGet({ port });
    assert.equal(value((await scrape(metricsPort)).text, 'app_requests_total{route="/"}'), 20);
    const blocked = httpGet({ port, path: '/block?ms=8000' }, 60_000);
    await waitUntil(() => handle.appLines.some((l) => l.app === 'blocking'), 30_000, 'a worker to block');
    const { status, text } = await scrape(metricsPort);
    assert.equal(status, 200);
    assert.ok((value(text, 'master_process_metrics_scrape_errors_total{reason="timeout"}') ?? 0) >= 1, text);
    assert.ok((value(text, 'master_process_metrics_scrape_workers{result="answered"}') ?? 2) <= 1);
    assert.equal(value(text, 'app_requests_total{route="/"}'), 20, 'the blocked worker still counts with what it last said');
    const pid = handle.appLines.find((l) => l.app === 'blocking')!.pid;
    await handle.until('the miss to be logged', () => handle.output.some((l) => l.includes(`worker ${pid}`) && l.includes('left out of this scrape (timeout)')));
    assert.equal((await blocked).status, 200);
    assert.equal(value((await scrape(metricsPort)).text, 'app_requests_total{route="/block"}'), 1, 'once unblocked it answers again');
  });
});
