/**
 * Entry layout: small bodies are copied after their head (one buffer, one write); large ones are kept as the
 * producer's buffer and leave as a second buffer of the same writev. Over real sockets, a hit on a large
 * entry is byte-identical to the uncached answer (except Date), whatever the request shape.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseResponses, rawRequest } from '../http/test-client.ts';
import { type RunningServer, startServer } from '../main/compose.ts';
import { CacheEntry, type EntryRecord, SEPARATE_BODY_MIN } from './entry.ts';

function record(body: Buffer): EntryRecord {
  return {
    key: '/f',
    path: '/f',
    host: '',
    status: 200,
    reason: '',
    fields: [
      ['Content-Type', 'application/octet-stream'],
      ['Content-Length', String(body.length)],
    ],
    body,
    file: null,
    storedAt: 0,
    expiresAt: Number.POSITIVE_INFINITY,
  };
}

describe('CacheEntry layout', () => {
  test('a small body lives in the same buffer as its head', () => {
    const body = Buffer.from('small body');
    const entry = new CacheEntry(record(body));
    assert.equal(entry.separateBody, null);
    assert.equal(entry.full.length, entry.headLength + body.length);
    assert.ok(entry.full.subarray(entry.headLength).equals(body));
    assert.ok(entry.body.equals(body));
  });

  test('a large body that owns its memory is kept, not copied; HEAD is the head buffer', () => {
    const body = Buffer.allocUnsafeSlow(SEPARATE_BODY_MIN).fill(0x61);
    const entry = new CacheEntry(record(body));
    assert.equal(entry.separateBody, body, 'the producer buffer itself');
    assert.equal(entry.body, body);
    assert.equal(entry.full.length, entry.headLength);
    assert.match(entry.full.toString('latin1'), /\r\nContent-Length: 16384\r\nDate: [^\r]+\r\n\r\n$/);
    assert.equal(entry.headResponse(Date.now()), entry.full);
    assert.ok(entry.charge >= entry.headLength + body.length, 'the body is still charged');
  });

  test('a large view into a bigger allocation is copied, so nothing hidden stays pinned', () => {
    const big = Buffer.allocUnsafeSlow(4 * SEPARATE_BODY_MIN).fill(0x62);
    const view = big.subarray(SEPARATE_BODY_MIN, 3 * SEPARATE_BODY_MIN);
    const entry = new CacheEntry(record(view));
    assert.equal(entry.separateBody, null);
    assert.ok(entry.body.equals(view));
    assert.notEqual(entry.full.buffer, big.buffer);
  });

  test('proxied entries (origin Date kept) stay in one buffer', () => {
    const body = Buffer.allocUnsafeSlow(2 * SEPARATE_BODY_MIN).fill(0x63);
    const entry = new CacheEntry(record(body), true);
    assert.equal(entry.separateBody, null);
    assert.equal(entry.full.length, entry.headLength + body.length);
  });
});

describe('large entries over sockets', () => {
  const DATE = /\r\nDate: [^\r]*\r\n/;
  let root: string;
  let cached: RunningServer;
  let plain: RunningServer;
  const size = 64 * 1024 + 7;

  const config = (cache: boolean) => ({
    plugins: cache ? ['cache', 'static'] : ['static'],
    server: { host: '127.0.0.1', port: 0 },
    static: { root },
  });
  const get = async (server: RunningServer, head: string) =>
    (await rawRequest(server.port, head, { timeoutMs: 2000 })).toString('latin1').replace(DATE, '\r\n');
  const req = (extra = '', method = 'GET', version = '1.1') =>
    `${method} /big.bin HTTP/${version}\r\nHost: test\r\nConnection: close\r\n${extra}\r\n`;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'tamarin-entry-'));
    const body = Buffer.alloc(size);
    for (let i = 0; i < size; i++) body[i] = (i * 7) & 0xff;
    writeFileSync(join(root, 'big.bin'), body);
    writeFileSync(join(root, 'multi.bin'), Buffer.concat([body, body, body, body, body]));
    writeFileSync(join(root, 'other.bin'), Buffer.alloc(5 * size, 0xee));
    cached = await startServer({ config: config(true), inProcess: true });
    plain = await startServer({ config: config(false), inProcess: true });
    await get(cached, req()); // fill
  });

  after(async () => {
    await cached?.close();
    await plain?.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('GET, HEAD, Range and HTTP/1.0 hits equal the uncached answers', async () => {
    for (const head of [
      req(),
      req('', 'HEAD'),
      req('Range: bytes=100-70000\r\n'),
      `GET /big.bin HTTP/1.0\r\nHost: test\r\n\r\n`,
    ]) {
      const [hit, miss] = await Promise.all([get(cached, head), get(plain, head)]);
      assert.equal(hit.length, miss.length, head);
      assert.ok(hit === miss, `same bytes for ${JSON.stringify(head)}`);
    }
    const [result] = await cached.control('cache', 'stats');
    assert.ok((result!.result as { hits: number }).hits >= 4);
  });

  test('a body captured from several streamed chunks survives the recycling of read buffers', async () => {
    const multi = 'GET /multi.bin HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n';
    const other = 'GET /other.bin HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n';
    await get(cached, multi); // fill: several 128 KiB chunks, captured
    for (let i = 0; i < 4; i++) await get(plain, other); // reuses every pooled buffer
    const [hit, miss] = await Promise.all([get(cached, multi), get(plain, multi)]);
    assert.equal(hit.length, miss.length);
    assert.ok(hit === miss);
  });

  test('pipelined hits on one keep-alive connection arrive whole and in order', async () => {
    const one = 'GET /big.bin HTTP/1.1\r\nHost: test\r\n\r\n';
    const last = 'GET /big.bin HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n';
    const responses = parseResponses(await rawRequest(cached.port, one + one + last, { timeoutMs: 2000 }));
    assert.equal(responses.length, 3);
    const single = parseResponses(await rawRequest(plain.port, req(), { timeoutMs: 2000 }))[0]!;
    for (const response of responses) {
      assert.equal(response.status, 200);
      assert.ok(response.body.equals(single.body));
    }
  });
});
