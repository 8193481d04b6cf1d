/**
 * The admin knows plugins only by their `AdminContribution`: a third-party plugin module (loaded from a
 * path, as a user's would be) contributes an endpoint, merged stats, a metric family and a dashboard
 * panel, and each shows up over the admin's real socket without the admin knowing the plugin.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { call, fetchFresh } from './admin-client.ts';

const TOKEN = 'test-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };

const PLUGIN = `
import { AdminRequestError, definePlugin, intParam, metricFamily, queryParams, z } from ${JSON.stringify(path.resolve('src/index.ts'))};
export default definePlugin({
  name: 'counter',
  options: z.strictObject({}),
  admin: {
    mergeStats: (perWorker) => ({ seen: perWorker.reduce((n, s) => n + s.seen, 0) }),
    endpoints: [
      {
        method: 'GET',
        path: '/api/counter',
        async handle(request, workers) {
          const params = queryParams(request.query, ['times']);
          const times = intParam(params, 'times', 1, 1, 10);
          const results = await workers('stats');
          return { body: { times, seen: results.map((r) => r.result.seen * times) } };
        },
      },
      {
        method: 'POST',
        path: '/api/counter/reset',
        async handle(request, workers) {
          if (request.query !== '') throw new AdminRequestError(400, 'bad_parameter', 'reset takes no parameters');
          await workers('reset');
          return { status: 202, body: { reset: true } };
        },
      },
    ],
    metrics: {
      collect(perWorker) {
        const seen = metricFamily('tamarin_counter_seen_total', 'counter', 'Requests the counter saw.');
        for (const { worker, result } of perWorker) seen.samples.push({ labels: { worker }, value: result.seen });
        return [seen];
      },
    },
    panel: { title: 'Counter', fields: [{ label: 'Seen', path: 'seen' }] },
  },
  create: () => {
    let seen = 0;
    return {
      name: 'counter',
      onRequest() { seen++; return false; },
      control(command) {
        if (command === 'stats') return { seen };
        if (command === 'reset') { seen = 0; return null; }
        throw new Error('unknown command ' + command);
      },
    };
  },
});
`;

let dir: string;
let server: RunningServer;

before(async () => {
  setLogSink(() => {});
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-admin-contract-'));
  fs.writeFileSync(path.join(dir, 'counter.mjs'), PLUGIN);
  server = await startServer({
    config: {
      plugins: ['./counter.mjs', 'static'],
      server: { host: '127.0.0.1', port: 0 },
      static: { root: path.resolve('test/fixtures/static') },
      admin: { port: 0, token: TOKEN },
    },
    configPath: path.join(dir, 'tamarin.toml'),
    inProcess: true,
  });
  for (let i = 0; i < 3; i++) await fetchFresh(server.port, '/hello.txt');
});

after(async () => {
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
  setLogSink(null);
});

describe("a plugin's admin contribution", () => {
  it('serves its endpoints, their 400s and their statuses', async () => {
    const ok = await call(server.admin!.url, 'GET', '/api/counter?times=2', auth);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json, { times: 2, seen: [6] });
    const bad = await call(server.admin!.url, 'GET', '/api/counter?times=99', auth);
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json, {
      error: 'bad_parameter',
      message: 'times must be an integer from 1 to 10, got "99"',
    });
    const wrongMethod = await call(server.admin!.url, 'DELETE', '/api/counter', auth);
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.allow, 'GET, HEAD');
  });

  it('shows its merged stats in /api/stats, its series in /metrics and its panel in /api/panels', async () => {
    const stats = await call(server.admin!.url, 'GET', '/api/stats', auth);
    assert.ok(stats.json.counter.seen >= 3);
    const metrics = await call(server.admin!.url, 'GET', '/metrics', auth);
    assert.match(metrics.text, /# TYPE tamarin_counter_seen_total counter/);
    assert.match(metrics.text, /tamarin_counter_seen_total\{worker="0"\} [3-9]/);
    const panels = await call(server.admin!.url, 'GET', '/api/panels', auth);
    assert.deepEqual(panels.json.panels, [
      { plugin: 'counter', stats: 'counter', title: 'Counter', fields: [{ label: 'Seen', path: 'seen' }] },
    ]);
  });

  it('changes state through a mutating endpoint', async () => {
    const reset = await call(server.admin!.url, 'POST', '/api/counter/reset', auth);
    assert.equal(reset.status, 202);
    const after = await call(server.admin!.url, 'GET', '/api/counter', auth);
    assert.deepEqual(after.json.seen, [0], 'admin calls do not pass through the plugin');
  });
});
