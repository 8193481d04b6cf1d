import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Headers } from '../http/headers.ts';
import {
  evaluateClientConditional,
  type Field,
  mergeNotModified,
  notModifiedMatches,
  validatorFields,
} from './validation.ts';

const LM = 'Thu, 01 Jan 2026 00:00:00 GMT';
const stored: Field[] = [
  ['Content-Type', 'text/plain'],
  ['ETag', '"v1"'],
  ['Last-Modified', LM],
  ['Cache-Control', 'max-age=10'],
  ['X-Old', 'kept'],
];
const h = (entries: Array<[string, string]>) => Headers.from(entries);

test('§4.3.1 validators sent upstream', () => {
  assert.deepEqual(validatorFields(stored), [
    ['If-None-Match', '"v1"'],
    ['If-Modified-Since', LM],
  ]);
  assert.deepEqual(validatorFields([['Last-Modified', 'garbage']]), []);
});

test('§4.3.4 which 304 updates the stored response', () => {
  assert.equal(notModifiedMatches(stored, h([['etag', '"v1"']])), true);
  assert.equal(notModifiedMatches(stored, h([['etag', '"v2"']])), false);
  assert.equal(notModifiedMatches(stored, h([['etag', 'W/"v1"']])), true, 'weak tag, weak comparison');
  assert.equal(notModifiedMatches(stored, h([['last-modified', LM]])), true);
  assert.equal(notModifiedMatches(stored, h([])), true, 'no validator: the response asked about');
});

test('§3.2 / §4.3.4 a 304 replaces stored fields except framing and hop-by-hop', () => {
  const merged = mergeNotModified(
    stored,
    h([
      ['cache-control', 'max-age=600'],
      ['x-new', '1'],
      ['content-length', '0'],
      ['keep-alive', 'timeout=5'],
      ['x-hop', 'a'],
    ]),
    ['x-hop'],
  );
  assert.deepEqual(merged, [
    ['Content-Type', 'text/plain'],
    ['ETag', '"v1"'],
    ['Last-Modified', LM],
    ['cache-control', 'max-age=600'],
    ['X-Old', 'kept'],
    ['x-new', '1'],
  ]);
});

const conditionals: Array<[string, Array<[string, string]>, string]> = [
  ['none', [], 'none'],
  ['If-None-Match matches (weak comparison)', [['if-none-match', 'W/"v1"']], 'not-modified'],
  ['If-None-Match differs', [['if-none-match', '"v0"']], 'full'],
  ['If-None-Match *', [['if-none-match', '*']], 'not-modified'],
  [
    'INM takes precedence over IMS',
    [
      ['if-none-match', '"v0"'],
      ['if-modified-since', LM],
    ],
    'full',
  ],
  ['IMS not modified', [['if-modified-since', LM]], 'not-modified'],
  ['IMS older than Last-Modified', [['if-modified-since', 'Wed, 31 Dec 2025 00:00:00 GMT']], 'full'],
  ['IMS invalid is ignored', [['if-modified-since', 'yesterday']], 'none'],
  ['If-Match is for the origin', [['if-match', '"v1"']], 'forward'],
];

for (const [name, fields, expected] of conditionals) {
  test(`§4.3.2 client conditional: ${name}`, () => {
    assert.equal(evaluateClientConditional(h(fields), stored, 0), expected);
  });
}

test('an encoded variant (weak tag of the origin’s strong one, Vary: Accept-Encoding) survives the 304', () => {
  const encoded: Field[] = [
    ['Content-Type', 'text/plain'],
    ['Vary', 'Accept-Encoding'],
    ['ETag', 'W/"v1"'],
    ['Content-Encoding', 'gzip'],
  ];
  assert.equal(notModifiedMatches(encoded, h([['etag', '"v1"']])), true, 'the strong form of our weak tag');
  assert.equal(notModifiedMatches(encoded, h([['etag', '"v2"']])), false);
  const merged = mergeNotModified(
    encoded,
    h([
      ['etag', '"v1"'],
      ['vary', 'Cookie'],
      ['cache-control', 'max-age=60'],
    ]),
    null,
  );
  assert.deepEqual(merged, [
    ['Content-Type', 'text/plain'],
    ['vary', 'Cookie, Accept-Encoding'],
    ['etag', 'W/"v1"'],
    ['Content-Encoding', 'gzip'],
    ['cache-control', 'max-age=60'],
  ]);
});
