import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeHeaders } from '../../static/test-fakes.ts';
import { makeEtag } from './etag.ts';
import { formatHttpDate } from './http-date.ts';
import { contentRange, evaluateRange, planMultipart, type RangeResult, unsatisfiedRange } from './range.ts';

const SIZE = 1000;
const MTIME = Date.UTC(2024, 0, 15, 12, 0, 0, 250);
const ETAG = makeEtag(SIZE, MTIME);

function evalRange(
  range: string | undefined,
  extra: Record<string, string> = {},
  method = 'GET',
  size = SIZE,
) {
  const headers = range === undefined ? extra : { range, ...extra };
  return evaluateRange(fakeHeaders(headers), method, size, ETAG, MTIME);
}

const partial = (...pairs: Array<[number, number]>): RangeResult => ({
  type: 'partial',
  ranges: pairs.map(([start, end]) => ({ start, end })),
});
const FULL: RangeResult = { type: 'full' };
const UNSAT: RangeResult = { type: 'unsatisfiable' };

const cases: Array<[string | undefined, RangeResult]> = [
  [undefined, FULL],
  ['bytes=0-99', partial([0, 99])],
  ['bytes=0-0', partial([0, 0])],
  ['BYTES=0-9', partial([0, 9])],
  ['bytes=990-', partial([990, 999])],
  ['bytes=990-5000', partial([990, 999])],
  ['bytes=-10', partial([990, 999])],
  ['bytes=-5000', partial([0, 999])],
  ['bytes=0-', partial([0, 999])],
  ['bytes=999-999', partial([999, 999])],
  ['bytes=1000-', UNSAT],
  ['bytes=1000-2000', UNSAT],
  ['bytes=-0', UNSAT],
  ['bytes=1000-,2000-', UNSAT],
  ['bytes=1000-, 0-4', partial([0, 4])], // unsatisfiable members are dropped
  ['bytes=0-9, 500-509', partial([0, 9], [500, 509])],
  ['bytes=500-509, 0-9', partial([500, 509], [0, 9])], // request order kept when nothing touches
  ['bytes=0-9, 5-20', partial([0, 20])], // overlap: coalesced
  ['bytes=0-9, 20-29', partial([0, 29])], // a gap cheaper than a part head: coalesced
  ['bytes=500-509, 0-9, 5-20', partial([0, 20], [500, 509])],
  ['bytes=,0-9,', partial([0, 9])],
  ['bytes=9-0', FULL], // invalid spec: header ignored
  ['bytes=a-b', FULL],
  ['bytes=0-9x', FULL],
  ['bytes=--1', FULL],
  ['bytes=1', FULL],
  ['bytes=', FULL],
  ['bytes= 0-9', partial([0, 9])],
  ['items=0-9', FULL], // unknown unit
  ['bytes =0-9', FULL],
  ['bytes=0-99999999999999999999999', partial([0, 999])],
  ['bytes=99999999999999999999999-', UNSAT],
];

for (const [range, expected] of cases) {
  test(`evaluateRange: ${range ?? '(none)'}`, () => {
    assert.deepEqual(evalRange(range), expected);
  });
}

test('Range applies to GET only (RFC 9110 §14.2)', () => {
  assert.deepEqual(evalRange('bytes=0-9', {}, 'HEAD'), FULL);
  assert.deepEqual(evalRange('bytes=0-9', {}, 'POST'), FULL);
});

test('empty file: any Range is ignored', () => {
  assert.deepEqual(evalRange('bytes=0-9', {}, 'GET', 0), FULL);
  assert.deepEqual(evalRange('bytes=-9', {}, 'GET', 0), FULL);
});

test('many tiny ranges are answered in full rather than as a huge multipart', () => {
  const specs = Array.from({ length: 40 }, (_, i) => `${i * 20}-${i * 20}`);
  // 20 bytes apart: they coalesce into one
  assert.deepEqual(evalRange('bytes=' + specs.join(',')), partial([0, 780]));
  const far = Array.from({ length: 40 }, (_, i) => `${i * 2000}-${i * 2000}`);
  assert.deepEqual(evalRange('bytes=' + far.join(','), {}, 'GET', 100_000), FULL);
  assert.deepEqual(evalRange('bytes=' + ',0-1'.repeat(101).slice(1)), FULL);
});

test('If-Range: strong ETag or exact date applies the Range, anything else sends it all', () => {
  assert.deepEqual(evalRange('bytes=0-9', { 'if-range': ETAG }), partial([0, 9]));
  assert.deepEqual(evalRange('bytes=0-9', { 'if-range': '"stale"' }), FULL);
  assert.deepEqual(evalRange('bytes=0-9', { 'if-range': 'W/' + ETAG }), FULL);
  assert.deepEqual(evalRange('bytes=0-9', { 'if-range': formatHttpDate(MTIME) }), partial([0, 9]));
  assert.deepEqual(evalRange('bytes=0-9', { 'if-range': formatHttpDate(MTIME + 1000) }), FULL);
  assert.deepEqual(evalRange('bytes=0-9', { 'if-range': formatHttpDate(MTIME - 1000) }), FULL);
  assert.deepEqual(evalRange('bytes=0-9', { 'if-range': 'not a date' }), FULL);
  assert.deepEqual(evalRange('bytes=5000-', { 'if-range': '"stale"' }), FULL); // not 416
});

test('Content-Range values', () => {
  assert.equal(contentRange({ start: 0, end: 99 }, 1000), 'bytes 0-99/1000');
  assert.equal(unsatisfiedRange(1000), 'bytes */1000');
});

test('planMultipart: the length matches the bytes that will be written', () => {
  const ranges = [
    { start: 0, end: 9 },
    { start: 500, end: 509 },
  ];
  const plan = planMultipart(ranges, SIZE, 'text/plain; charset=utf-8');
  const boundary = /boundary=(\w+)$/.exec(plan.contentType)![1]!;
  const body = Buffer.concat([
    plan.heads[0]!,
    Buffer.alloc(10, 'a'),
    plan.heads[1]!,
    Buffer.alloc(10, 'b'),
    plan.tail,
  ]);
  assert.equal(body.length, plan.length);
  const text = body.toString('latin1');
  assert.ok(text.startsWith(`--${boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n`));
  assert.ok(text.includes('Content-Range: bytes 500-509/1000\r\n\r\nbbbbbbbbbb'));
  assert.ok(text.endsWith(`\r\n--${boundary}--\r\n`));
  assert.notEqual(planMultipart(ranges, SIZE, 'x/y').contentType, plan.contentType);
});
