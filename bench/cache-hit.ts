/**
 * The cache's own cost per hit, without sockets: `onRequest` + `onResponse` of the cache plugin for a
 * stored 1 KiB entry, with a Response stub whose `sendPrebuilt` only counts bytes. What is left of a hit's
 * time in a real benchmark is the engine and the kernel.
 *
 *   node bench/cache-hit.ts [--policy w-tinylfu] [--seconds 2]
 */

import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ContentCache, cacheOptionsSchema } from '../src/cache/plugin.ts';
import type { Request, Response } from '../src/http/types.ts';
import type { PluginContext } from '../src/server/plugin.ts';
import { testContext } from '../src/server/test-context.ts';
import { fakeRequest } from '../src/static/test-fakes.ts';

const { values } = parseArgs({
  options: { policy: { type: 'string' }, seconds: { type: 'string', default: '2' } },
});
const dir = mkdtempSync(join(tmpdir(), 'tamarin-cache-hit-'));
const file = join(dir, '1k.txt');
writeFileSync(file, Buffer.alloc(1024, 0x61));
const context: PluginContext = testContext();
const cache = new ContentCache(
  cacheOptionsSchema.parse(values.policy === undefined ? {} : { policy: values.policy }),
  context,
);
const req: Request = fakeRequest('GET', '/1k.txt', { host: 'bench', 'user-agent': 'bench', accept: '*/*' });
let bytes = 0;
const stats = statSync(file);
const res = {
  statusCode: 200,
  statusMessage: '',
  aborted: false,
  bodyBytes: 1024,
  capturedBody: Buffer.alloc(1024, 0x61) as Buffer | null,
  file: null as Response['file'],
  headerEntries: () => [
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Length', '1024'],
  ],
  captureBody() {},
  sendPrebuilt(buf: Buffer) {
    bytes += buf.length;
  },
} as unknown as Response;

// Fill: one miss, answered as the static plugin would.
cache.onRequest(req, res);
res.file = { path: file, size: stats.size, mtimeMs: stats.mtimeMs, ino: stats.ino };
cache.onResponse(req, res);
res.file = null;
(res as { capturedBody: Buffer | null }).capturedBody = null;

const deadline = performance.now() + Number(values.seconds) * 1000;
let hits = 0;
const started = performance.now();
while (performance.now() < deadline) {
  for (let i = 0; i < 100_000; i++) {
    cache.onRequest(req, res);
    cache.onResponse(req, res);
  }
  hits += 100_000;
}
const elapsed = performance.now() - started;
console.log(
  `policy ${values.policy ?? 'default'}${cache.stats.hits === hits ? '' : ' (SOME MISSED)'}: ` +
    `${((elapsed * 1e6) / hits).toFixed(0)} ns per hit, ${((hits / elapsed) * 1000).toFixed(0)} hits/s ` +
    `(${(bytes / hits).toFixed(0)} B each)`,
);
cache.close();
rmSync(dir, { recursive: true, force: true });
