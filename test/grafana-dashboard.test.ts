/**
 * examples/grafana-dashboard.json is built on metrics that exist: every `tamarin_*` name its queries use
 * has samples in `GET /metrics` of a running server (cache, proxy with a cached and a plain route, static
 * files) after some traffic; and the file is a dashboard Grafana can import (panels with unique ids,
 * every query with a refId and an expression).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { call, fetchFresh } from './admin-client.ts';
import { type FakeBackend, startFakeBackend } from './helpers/fake-backend.ts';

const TOKEN = 'test-token-0123456789abcdef';
const DASHBOARD = new URL('../examples/grafana-dashboard.json', import.meta.url);

interface Panel {
  id: number;
  type: string;
  title: string;
  targets?: Array<{ refId: string; expr: string }>;
}

let server: RunningServer;
let backend: FakeBackend;

before(async () => {
  setLogSink(() => {});
  backend = await startFakeBackend({
    name: 'b',
    handler: (req, res) => {
      if (!req.url?.startsWith('/cached/')) return false;
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' });
      res.end('cached\n');
      return true;
    },
  });
  server = await startServer({
    inProcess: true,
    config: {
      plugins: ['cache', 'proxy', 'static'],
      server: { host: '127.0.0.1', port: 0 },
      static: { root: 'test/fixtures/static' },
      proxy: {
        routes: [
          { match: '^/api/', backends: [backend.url] },
          { match: '^/cached/', backends: [backend.url], cache: true },
        ],
      },
      admin: { port: 0, token: TOKEN },
    },
  });
  for (const path of ['/hello.txt', '/hello.txt', '/nope.txt', '/api/x', '/cached/a', '/cached/a']) {
    await fetchFresh(server.port, path);
  }
});

after(async () => {
  await server?.close();
  await backend?.stop();
  setLogSink(null);
});

describe('examples/grafana-dashboard.json', () => {
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as { title: string; panels: Panel[] };
  const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));

  it('is a dashboard Grafana can import', () => {
    assert.equal(typeof dashboard.title, 'string');
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    assert.ok(queries.length >= 20, `${queries.length} queries`);
    for (const q of queries) {
      assert.match(q.refId, /^[A-Z]$/, `${q.panel}: refId`);
      assert.ok(q.expr.includes('tamarin_'), `${q.panel}: ${q.expr}`);
    }
  });

  it('uses only metric names that /metrics serves with samples', async () => {
    const reply = await call(server.admin!.url, 'GET', '/metrics', { authorization: `Bearer ${TOKEN}` });
    assert.equal(reply.status, 200);
    const served = new Set<string>();
    for (const line of reply.text.split('\n')) {
      const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)?.[1];
      if (name !== undefined && !line.startsWith('#')) served.add(name);
    }
    const missing: string[] = [];
    for (const q of queries) {
      for (const [name] of q.expr.matchAll(/\btamarin_[a-z0-9_]+/g)) {
        if (!served.has(name)) missing.push(`${q.panel}: ${name}`);
      }
    }
    assert.deepEqual(missing, []);
  });
});
