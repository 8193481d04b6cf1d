/**
 * What one `headers` response rule costs a 1 KiB cache hit, without sockets: per request a real
 * HttpResponse (the engine's writer) over a sink that only counts bytes, then the cache plugin's
 * `onRequest` + `onResponse`; with the `headers` plugin's `onRequest` (one `add` rule) in front or not.
 * Rounds alternate between the two so that machine noise hits both alike; medians are printed. The
 * socket write itself is the same in both (one buffer: the entry's bytes with the added line, copied once
 * per second and reused).
 *
 *   node bench/header-rule-hit.ts [--rounds 10] [--ms 500]
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ContentCache, cacheOptionsSchema } from '../src/cache/plugin.ts';
import { Headers } from '../src/http/headers.ts';
import { HttpRequest } from '../src/http/request.ts';
import { HttpResponse, type ResponseSink } from '../src/http/response.ts';
import type { ParsedHead } from '../src/http/types.ts';
import { headersOptions, headersPlugin } from '../src/plugins/headers/plugin.ts';
import type { Plugin, PluginContext } from '../src/server/plugin.ts';
import { testContext } from '../src/server/test-context.ts';

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '10' }, ms: { type: 'string', default: '500' } },
});
const dir = mkdtempSync(join(tmpdir(), 'tamarin-header-hit-'));
const file = join(dir, '1k.txt');
writeFileSync(file, Buffer.alloc(1024, 0x61));
const context: PluginContext = testContext();
const cache = new ContentCache(cacheOptionsSchema.parse({}), context);
const rule = (await headersPlugin.create(
  headersOptions.parse({ rules: [{ response: { add: { 'X-Frame-Options': 'DENY' } } }] }),
  context,
)) as Plugin;

let bytes = 0;
const sink: ResponseSink = {
  prepareHead() {},
  output(_res, a, b, c) {
    bytes += a.length + (b?.length ?? 0) + (c?.length ?? 0);
    return true;
  },
  ended() {},
  wantDrain() {},
  destroyResponse() {},
};
const headers = Headers.from([
  ['Host', 'bench'],
  ['User-Agent', 'bench'],
  ['Accept', '*/*'],
]);
const head: ParsedHead = {
  method: 'GET',
  target: '/1k.txt',
  status: 0,
  reason: '',
  versionMinor: 1,
  headers,
  contentLength: -1,
  chunked: false,
  keepAlive: true,
  expectContinue: false,
  upgrade: false,
  host: 'bench',
};
const connection = {
  id: 1,
  remoteAddress: '127.0.0.1',
  remotePort: 1,
  localAddress: '127.0.0.1',
  localPort: 2,
  requestCount: 1,
};

// Fill the cache: one miss answered as the static plugin would.
{
  const req = new HttpRequest(head, null, true, connection, 0);
  const res = new HttpResponse(sink, req);
  cache.onRequest(req, res);
  const stats = statSync(file);
  res.file = { path: file, size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino };
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(Buffer.alloc(1024, 0x61));
  cache.onResponse(req, res);
}

function round(withRule: boolean, ms: number): number {
  const deadline = performance.now() + ms;
  let n = 0;
  const started = performance.now();
  while (performance.now() < deadline) {
    for (let i = 0; i < 10_000; i++) {
      const req = new HttpRequest(head, null, true, connection, 0);
      const res = new HttpResponse(sink, req);
      if (withRule) rule.onRequest!(req, res);
      cache.onRequest(req, res);
      cache.onResponse(req, res);
    }
    n += 10_000;
  }
  return ((performance.now() - started) * 1e6) / n;
}

const median = (list: number[]) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]!;
const none: number[] = [];
const one: number[] = [];
round(false, 300);
round(true, 300);
for (let i = 0; i < Number(values.rounds); i++) {
  none.push(round(false, Number(values.ms)));
  one.push(round(true, Number(values.ms)));
}
const a = median(none);
const b = median(one);
console.log(
  `1 KiB hit, JS path per request: no rule ${a.toFixed(0)} ns, one add rule ${b.toFixed(0)} ns ` +
    `(+${(b - a).toFixed(0)} ns); rounds: ${none.map((x) => x.toFixed(0)).join('/')} vs ` +
    `${one.map((x) => x.toFixed(0)).join('/')}`,
);
console.log(`hits: ${cache.stats.hits}, bytes written: ${bytes}`);
cache.close();
rmSync(dir, { recursive: true, force: true });
