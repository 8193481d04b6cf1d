import assert from 'node:assert/strict';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { mock, test } from 'node:test';
import { Headers } from '../http/headers.ts';
import type { Request } from '../http/types.ts';
import { PurgeGate, purgeFilterOf, purgeMethodSchema } from './purge.ts';

const require = createRequire(import.meta.url);

function request(remoteAddress: string, target: string, fields: Array<[string, string]> = []): Request {
  return {
    method: 'PURGE',
    target,
    path: target,
    query: '',
    versionMinor: 1,
    headers: Headers.from(fields),
    host: 'a.test',
    body: null,
    trailers: null,
    keepAlive: true,
    connection: {
      id: 1,
      remoteAddress,
      remotePort: 1,
      localAddress: '127.0.0.1',
      localPort: 2,
      requestCount: 1,
    },
    startTime: 0,
  };
}

test('off by default; allow list with CIDR ranges and IPv4-mapped addresses', () => {
  assert.equal(purgeMethodSchema.parse(undefined).enabled, false);
  const gate = new PurgeGate(purgeMethodSchema.parse({ enabled: true, allow: ['10.0.0.0/8', '::1'] }));
  assert.equal(gate.check(request('10.1.2.3', '/x')), null);
  assert.equal(gate.check(request('::ffff:10.1.2.3', '/x')), null);
  assert.equal(gate.check(request('::1', '/x')), null);
  assert.match(gate.check(request('192.168.0.1', '/x')) ?? '', /not allowed from this address/);
});

test('token', () => {
  const gate = new PurgeGate(purgeMethodSchema.parse({ enabled: true, allow: [], token: 'secret-123' }));
  assert.match(gate.check(request('1.2.3.4', '/x')) ?? '', /needs a token/);
  assert.match(
    gate.check(request('1.2.3.4', '/x', [['x-purge-token', 'nope-nope-']])) ?? '',
    /does not match/,
  );
  assert.equal(gate.check(request('1.2.3.4', '/x', [['x-purge-token', 'secret-123']])), null);
  assert.equal(gate.check(request('1.2.3.4', '/x', [['authorization', 'Bearer secret-123']])), null);
});

test('bad config names the problem', () => {
  const result = purgeMethodSchema.safeParse({ enabled: true, allow: ['10.0.0.0/99'] });
  assert.equal(result.success, false);
  assert.match(JSON.stringify(result.error?.issues), /CIDR range/);
});

test('URL and prefix filters', () => {
  assert.deepEqual(purgeFilterOf(request('::1', '/a%20b?x=1')), { path: '/a b?x=1', host: 'a.test' });
  assert.deepEqual(purgeFilterOf(request('::1', '/img/*')), { prefix: '/img/', host: 'a.test' });
});

test('wrong tokens of any length are compared the same way: digests, in constant time', () => {
  const crypto = require('node:crypto') as typeof import('node:crypto');
  const compared: number[] = [];
  const original = crypto.timingSafeEqual;
  mock.method(crypto, 'timingSafeEqual', (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
    compared.push(a.byteLength, b.byteLength);
    return original(a, b);
  });
  syncBuiltinESMExports();
  try {
    const gate = new PurgeGate(purgeMethodSchema.parse({ enabled: true, allow: [], token: 'secret-123' }));
    const answers = ['x', 'nope-nope-', 'a much longer wrong token than the real one'].map((token) =>
      gate.check(request('1.2.3.4', '/x', [['x-purge-token', token]])),
    );
    assert.deepEqual(answers, Array(3).fill('PURGE token does not match'));
    // Every wrong token, whatever its length, went through one fixed-size comparison.
    assert.deepEqual(compared, [32, 32, 32, 32, 32, 32]);
  } finally {
    mock.restoreAll();
    syncBuiltinESMExports();
  }
});
