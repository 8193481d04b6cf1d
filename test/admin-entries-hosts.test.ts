/**
 * Cache entries of virtual hosts in the admin API: two hosts with the same paths list as rows of their
 * own (host and path), a search finds one host's entries, and a purge by host and path removes that
 * host's entry only (the dashboard's row Purge sends both), while a purge by path alone takes every host's.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { call } from './admin-client.ts';

const TOKEN = 'test-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };
let server: RunningServer;
let sites: string;

/** GET `target` with a Host header, once. */
function get(target: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { port: server.port, host: '127.0.0.1', path: target, headers: { host }, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
  });
}

/** The listed entries as `host path`, sorted. */
async function listed(query = ''): Promise<string[]> {
  const { status, json } = await call(server.admin!.url, 'GET', `/api/cache/entries?limit=100${query}`, auth);
  assert.equal(status, 200);
  return json.entries.map((e: { host: string; path: string }) => `${e.host} ${e.path}`).sort();
}

/** Request `/` and `/about.html` on both hosts until the one shared store lists all four. */
async function fill(): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await Promise.all(['a.test', 'b.test'].flatMap((h) => [get('/', h), get('/about.html', h)]));
    if ((await listed()).length === 4) return;
  }
  assert.fail('the entries never reached the cache');
}

before(async () => {
  setLogSink(() => {});
  sites = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-admin-hosts-'));
  for (const name of ['a.test', 'b.test']) {
    fs.mkdirSync(path.join(sites, name));
    fs.writeFileSync(path.join(sites, name, 'index.html'), `<p>${name}</p>\n`);
    fs.writeFileSync(path.join(sites, name, 'about.html'), `<p>about ${name}</p>\n`);
  }
  server = await startServer({
    config: {
      plugins: ['cache', 'static'],
      server: { port: 0, workers: 2 },
      static: {
        root: path.join(sites, 'a.test'),
        hosts: { 'a.test': path.join(sites, 'a.test'), 'b.test': path.join(sites, 'b.test') },
      },
      admin: { port: 0, token: TOKEN },
    },
  });
});

after(async () => {
  await server?.close();
  setLogSink(null);
  if (sites !== undefined) fs.rmSync(sites, { recursive: true, force: true });
});

describe('cache entries of virtual hosts', () => {
  it('lists each host apart and finds them by search', async () => {
    await fill();
    assert.deepEqual(await listed(), ['a.test /', 'a.test /about.html', 'b.test /', 'b.test /about.html']);
    assert.deepEqual(await listed('&q=B.TEST/'), ['b.test /', 'b.test /about.html']);
    assert.deepEqual(await listed('&q=about'), ['a.test /about.html', 'b.test /about.html']);
    const { json } = await call(server.admin!.url, 'GET', '/api/cache/entries?q=about&limit=1', auth);
    assert.equal(json.total, 2, 'the total counts the matches, not the page');
    assert.equal(json.entries.length, 1);
  });

  it("purges one host's path with host and path, every host's with the path alone", async () => {
    await fill();
    const one = await call(server.admin!.url, 'DELETE', '/api/cache?path=/&host=a.test', auth);
    assert.equal(one.status, 200);
    assert.equal(one.json.removed, 1);
    assert.deepEqual(await listed(), ['a.test /about.html', 'b.test /', 'b.test /about.html']);
    const all = await call(server.admin!.url, 'DELETE', '/api/cache?path=/about.html', auth);
    assert.equal(all.json.removed, 2);
    assert.deepEqual(await listed(), ['b.test /']);
  });
});
