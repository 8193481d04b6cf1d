/**
 * The cache plugin without sockets: single flight with a producer we control, the collapse timeout, and
 * config validation. (Socket-level behaviour is in test/cache*.test.ts.)
 */

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { z } from 'zod';
import { wantsWholeBody } from '../http/body-keepers.ts';
import type { Request, Response } from '../http/types.ts';
import type { Logger, PluginContext } from '../server/plugin.ts';
import { testContext } from '../server/test-context.ts';
import { fakeRequest } from '../static/test-fakes.ts';
import { ContentCache, cacheOptionsSchema } from './plugin.ts';

const dir = mkdtempSync(join(tmpdir(), 'tamarin-cache-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const filePath = join(dir, 'f.txt');
writeFileSync(filePath, 'file body\n');

const silent: Logger = { info() {}, warn() {}, error() {} };
const context: PluginContext = testContext({ logger: silent });

/** A response that records `sendPrebuilt` and can be "produced" like the static plugin would. */
function fakeResponse() {
  const sent: Buffer[] = [];
  const res = {
    statusCode: 200,
    statusMessage: '',
    aborted: false,
    bodyBytes: 0,
    capturedBody: null as Buffer | null,
    captureLimit: -1,
    file: null as Response['file'],
    fields: [] as Array<[string, string]>,
    headerEntries() {
      return this.fields;
    },
    captureBody(limit: number) {
      this.captureLimit = limit;
    },
    sendPrebuilt(bytes: Buffer) {
      sent.push(Buffer.from(bytes));
    },
    sent,
  };
  return res;
}

/** What the static plugin does for f.txt. */
function produce(res: ReturnType<typeof fakeResponse>): void {
  const body = Buffer.from('file body\n');
  const s = statSync(filePath);
  res.file = { path: filePath, size: s.size, mtimeMs: s.mtimeMs, ino: s.ino };
  res.fields = [
    ['Content-Type', 'text/plain'],
    ['Content-Length', String(body.length)],
  ];
  res.bodyBytes = body.length;
  if (res.captureLimit >= body.length) res.capturedBody = body;
}

const asRes = (r: ReturnType<typeof fakeResponse>) => r as unknown as Response;

function cache(options: Record<string, unknown> = {}): ContentCache {
  return new ContentCache(cacheOptionsSchema.parse(options), context);
}

test('single flight: misses that arrive while one is in flight wait and are answered from its entry', async () => {
  const plugin = cache();
  const leaderReq: Request = fakeRequest('GET', '/f.txt');
  const leader = fakeResponse();
  assert.equal(plugin.onRequest(leaderReq, asRes(leader)), false, 'the first miss goes to the file');
  assert.ok(leader.captureLimit > 0, 'and captures the body');

  const waiters = Array.from({ length: 5 }, () => ({
    req: fakeRequest('GET', '/f.txt'),
    res: fakeResponse(),
  }));
  const pending = waiters.map(({ req, res }) => plugin.onRequest(req, asRes(res)));
  for (const p of pending) assert.ok(p instanceof Promise, 'the others wait');

  produce(leader);
  plugin.onResponse(leaderReq, asRes(leader));
  assert.deepEqual(await Promise.all(pending), [true, true, true, true, true]);
  for (const { res } of waiters) {
    assert.equal(res.sent.length, 1);
    assert.match(res.sent[0]!.toString(), /^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nfile body\n$/);
  }
  const stats = plugin.stats;
  assert.equal(stats.originFetches, 1);
  assert.equal(stats.collapsed, 5);
  assert.equal(stats.hits, 5);
  assert.equal(stats.misses, 1);
  plugin.close();
});

test('single flight: when the leader produced nothing storable, waiters go to the file themselves', async () => {
  const plugin = cache();
  const leaderReq = fakeRequest('GET', '/f.txt');
  const leader = fakeResponse();
  plugin.onRequest(leaderReq, asRes(leader));
  const waiter = fakeResponse();
  const pending = plugin.onRequest(fakeRequest('GET', '/f.txt'), asRes(waiter));
  leader.statusCode = 404; // e.g. the file vanished
  plugin.onResponse(leaderReq, asRes(leader));
  assert.equal(await pending, false);
  assert.equal(waiter.sent.length, 0);
  // The leader's 404 is a pass, not a miss; the waiter counts once its own answer is done.
  assert.equal(plugin.stats.misses, 0);
  assert.equal(plugin.stats.outcomeCounts().outcomes.pass, 1);
  plugin.close();
});

test('single flight: waiting is bounded by collapse_timeout', async () => {
  const plugin = cache({ collapse_timeout: '50ms' });
  plugin.onRequest(fakeRequest('GET', '/f.txt'), asRes(fakeResponse())); // a leader that never finishes
  const started = performance.now();
  const result = await plugin.onRequest(fakeRequest('GET', '/f.txt'), asRes(fakeResponse()));
  assert.equal(result, false);
  const waited = performance.now() - started;
  assert.ok(waited >= 40 && waited < 1000, `waited ${waited} ms`);
  // The key is free again: the next miss leads instead of waiting.
  assert.equal(plugin.onRequest(fakeRequest('GET', '/f.txt'), asRes(fakeResponse())), false);
  plugin.close();
});

test('conditional and range misses neither lead nor wait', () => {
  const plugin = cache();
  plugin.onRequest(fakeRequest('GET', '/f.txt'), asRes(fakeResponse()));
  const ranged = plugin.onRequest(
    fakeRequest('GET', '/f.txt', { range: 'bytes=0-1' }),
    asRes(fakeResponse()),
  );
  assert.equal(ranged, false);
  plugin.close();
});

test('a miss answered without a file (proxied, error) is not stored, and not captured again soon', () => {
  const plugin = cache();
  const first = fakeResponse();
  const req = fakeRequest('GET', '/api/thing');
  plugin.onRequest(req, asRes(first));
  assert.ok(first.captureLimit > 0);
  first.capturedBody = Buffer.from('{"from":"backend"}');
  plugin.onResponse(req, asRes(first));
  assert.equal(plugin.store.count, 0);
  const second = fakeResponse();
  assert.equal(plugin.onRequest(fakeRequest('GET', '/api/thing'), asRes(second)), false);
  assert.equal(second.captureLimit, -1, 'no capture for a key known not to be a file');
  plugin.close();
});

test('a miss asks the static plugin for its body whole, up to max_object_size; a HEAD does not', () => {
  const plugin = cache({ max_object_size: '1MiB' });
  const miss = fakeResponse();
  plugin.onRequest(fakeRequest('GET', '/f.txt'), asRes(miss));
  assert.equal(wantsWholeBody(asRes(miss), 1024 * 1024), true);
  assert.equal(wantsWholeBody(asRes(miss), 1024 * 1024 + 1), false);
  const head = fakeResponse();
  plugin.onRequest(fakeRequest('HEAD', '/f.txt'), asRes(head));
  assert.equal(wantsWholeBody(asRes(head), 1), false);
  plugin.close();
});

/** Stores `count` distinct entries of `size` bytes through the plugin's miss path. */
function fill(plugin: ContentCache, count: number, size: number): void {
  const s = statSync(filePath);
  for (let i = 0; i < count; i++) {
    const req = fakeRequest('GET', `/big-${i}.bin`);
    const res = fakeResponse();
    plugin.onRequest(req, asRes(res));
    res.file = { path: filePath, size, mtimeMs: s.mtimeMs, ino: s.ino };
    res.fields = [['Content-Type', 'application/octet-stream']];
    res.bodyBytes = size;
    res.capturedBody = Buffer.alloc(size, i);
    plugin.onResponse(req, asRes(res));
  }
}

test('dropped bodies are collected once 1/16 of the capacity (at least 4 MiB) left the store', async () => {
  let runs = 0;
  const options = cacheOptionsSchema.parse({ max_size: '8MiB', policy: 'lru' });
  const plugin = new ContentCache(options, context, Date.now, () => runs++);
  fill(plugin, 32, 256 * 1024); // 8 MiB stored, nothing dropped yet
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(runs, 0);
  fill(plugin, 20, 256 * 1024); // same keys: 20 replaced, 5 MiB dropped
  for (const end = Date.now() + 3000; runs === 0 && Date.now() < end; ) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(runs, 1);
  assert.equal(plugin.reclaimer?.runs, 1);
  plugin.close();
  // Without a usable gc (the flag could not be set): no reclaimer, the cache works the same.
  const plain = new ContentCache(options, context, Date.now, null);
  assert.equal(plain.reclaimer, null);
  fill(plain, 52, 256 * 1024);
  assert.ok(plain.store.count > 0 && plain.store.bytes <= plain.store.maxBytes);
  plain.close();
});

test('reclaim = false runs no reclaimer; the default runs one when gc can be had', () => {
  const off = new ContentCache(cacheOptionsSchema.parse({ reclaim: false }), context);
  assert.equal(off.reclaimer, null);
  off.close();
  const on = new ContentCache(cacheOptionsSchema.parse({}), context);
  // This Node exposes gc at run time (reclaim.test.ts checks it), so the default has a reclaimer.
  assert.notEqual(on.reclaimer, null);
  on.close();
  assert.throws(() => cacheOptionsSchema.parse({ reclaim: 'yes' }), /reclaim/);
});

test('each worker gets max_size / workers', () => {
  const plugin = new ContentCache(cacheOptionsSchema.parse({ max_size: '64MiB', max_entries: 1000 }), {
    ...context,
    workerCount: 4,
  });
  assert.equal(plugin.store.maxBytes, 16 * 1024 * 1024);
  assert.equal(plugin.store.maxEntries, 250);
  plugin.close();
});

test('config errors name the key', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ max_size: 'lots' }, /max_size/],
    [{ policy: 'fifo' }, /policy/],
    [{ ttl: '0s' }, /ttl/],
    [{ rules: [{ path: '/x', ttl: 'soon' }] }, /rules\[0\]\.ttl|rules.*ttl/],
    [{ revalidate_intervall: '1s' }, /revalidate_intervall/],
  ];
  for (const [options, pattern] of cases) {
    const result = cacheOptionsSchema.safeParse(options);
    assert.equal(result.success, false, JSON.stringify(options));
    assert.match(z.prettifyError(result.error!), pattern);
  }
  const defaults = cacheOptionsSchema.parse({});
  assert.equal(defaults.max_size, 256 * 1024 * 1024);
  assert.equal(defaults.max_object_size, 8 * 1024 * 1024);
  assert.equal(defaults.revalidate_interval, 1000);
  assert.equal(defaults.ttl, undefined);
});

test('min_uses = 2: the first miss is served uncached, the second stores, the third hits', () => {
  const plugin = cache({ min_uses: 2 });
  const asked = () => {
    const req = fakeRequest('GET', '/f.txt');
    const res = fakeResponse();
    const handled = plugin.onRequest(req, asRes(res));
    if (handled === false) {
      produce(res);
      plugin.onResponse(req, asRes(res));
    }
    return { handled, res };
  };
  const first = asked();
  assert.equal(first.handled, false);
  assert.equal(first.res.captureLimit, -1, 'not captured: it will not be stored');
  assert.equal(wantsWholeBody(asRes(first.res), 10), false);
  const second = asked();
  assert.equal(second.handled, false);
  assert.ok(second.res.captureLimit > 0, 'the second miss is captured and stored');
  const third = asked();
  assert.equal(third.handled, true, 'a hit');
  assert.equal(third.res.sent.length, 1);
  plugin.close();
});

test('min_uses = 1 (the default) stores the first miss', () => {
  assert.equal(cacheOptionsSchema.parse({}).min_uses, 1);
  assert.throws(() => cacheOptionsSchema.parse({ min_uses: 0 }), /min_uses/);
});
