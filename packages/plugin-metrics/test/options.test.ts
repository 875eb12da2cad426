import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveMetricsOptions } from '../src/options.js';

const fails = (fn: () => unknown, code: string, pattern: RegExp) =>
  assert.throws(fn, (error: Error & { code?: string }) => {
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });

describe('metrics options', () => {
  it('defaults: 127.0.0.1:9464/metrics, 2 s per worker, app metrics on', () => {
    const o = resolveMetricsOptions({}, {});
    assert.deepEqual(o.endpoint, { kind: 'tcp', host: '127.0.0.1', port: 9464 });
    assert.equal(o.path, '/metrics');
    assert.equal(o.timeout, 2000);
    assert.equal(o.workers, true);
    assert.equal(o.prefix, 'master_process_');
  });

  it('the environment: METRICS_PORT, METRICS_HOST, METRICS_SOCKET; options win over it', () => {
    assert.deepEqual(resolveMetricsOptions({}, { METRICS_PORT: '9100', METRICS_HOST: '::1' }).endpoint, { kind: 'tcp', host: '::1', port: 9100 });
    assert.deepEqual(resolveMetricsOptions({}, { METRICS_SOCKET: '/run/app/m.sock' }).endpoint, { kind: 'unix', path: '/run/app/m.sock' });
    assert.deepEqual(resolveMetricsOptions({ port: 9200 }, { METRICS_SOCKET: '/run/app/m.sock' }).endpoint, { kind: 'tcp', host: '127.0.0.1', port: 9200 });
    assert.deepEqual(resolveMetricsOptions({ socket: '/tmp/a.sock' }, { METRICS_PORT: '1' }).endpoint, { kind: 'unix', path: '/tmp/a.sock' });
  });

  it('refuses bad values naming the setting, the value and what is accepted', () => {
    fails(() => resolveMetricsOptions({}, { METRICS_PORT: '70000' }), 'MP_ERR_INVALID_ENV', /METRICS_PORT: got "70000"\. Accepted: an integer >= 0 and <= 65535/);
    fails(() => resolveMetricsOptions({ port: 1.5 }, {}), 'MP_ERR_INVALID_OPTION', /option `port`: got 1\.5/);
    fails(() => resolveMetricsOptions({ host: ' ' }, {}), 'MP_ERR_INVALID_OPTION', /option `host`.*an IP address or host name/);
    fails(() => resolveMetricsOptions({}, { METRICS_SOCKET: 'rel.sock' }), 'MP_ERR_INVALID_ENV', /METRICS_SOCKET: got "rel\.sock"\. Accepted: an absolute path/);
    fails(() => resolveMetricsOptions({ socket: `/tmp/${'x'.repeat(120)}` }, {}), 'MP_ERR_INVALID_OPTION', /a socket path of at most 10\d bytes/);
    fails(() => resolveMetricsOptions({ socket: '/tmp/a.sock', host: '0.0.0.0' }, {}), 'MP_ERR_INVALID_OPTION', /either `socket` or `port`\/`host`, not both/);
    fails(() => resolveMetricsOptions({ path: 'metrics' }, {}), 'MP_ERR_INVALID_OPTION', /option `path`: got "metrics"\. Accepted: a URL path starting with "\/"/);
    fails(() => resolveMetricsOptions({ path: '/m?x' }, {}), 'MP_ERR_INVALID_OPTION', /option `path`/);
    fails(() => resolveMetricsOptions({ timeout: 0 }, {}), 'MP_ERR_INVALID_OPTION', /option `timeout`: got 0\. Accepted: a duration of at least 1 ms/);
    fails(() => resolveMetricsOptions({ prefix: '1x' }, {}), 'MP_ERR_INVALID_OPTION', /option `prefix`.*metric name prefix/);
    fails(() => resolveMetricsOptions({ reloadBuckets: [5, 1] }, {}), 'MP_ERR_INVALID_OPTION', /option `reloadBuckets`.*increasing positive numbers/);
    fails(() => resolveMetricsOptions({ workers: 'sometimes' as never }, {}), 'MP_ERR_INVALID_OPTION', /option `workers`/);
    fails(() => resolveMetricsOptions({ prot: 1 } as never, {}), 'MP_ERR_INVALID_OPTION', /prot/);
  });
});
