import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fakeHeaders } from '../../static/test-fakes.ts';
import { checkPreconditions } from './conditional.ts';
import { listMatches, makeEtag, parseEtagList } from './etag.ts';
import { formatHttpDate, parseHttpDate } from './http-date.ts';

const MTIME = Date.UTC(2024, 0, 15, 12, 0, 0, 500); // .5 s: dates compare in whole seconds
const ETAG = makeEtag(1024, MTIME);
const LM = formatHttpDate(MTIME);
const EARLIER = formatHttpDate(MTIME - 60_000);
const LATER = formatHttpDate(MTIME + 60_000);

test('parseHttpDate accepts the three RFC 9110 formats and rejects loose ones', () => {
  const t = Date.UTC(1994, 10, 6, 8, 49, 37);
  assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), t);
  assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), t);
  assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), t);
  for (const bad of [
    '1',
    '2024',
    'yesterday',
    'Sun, 06 Nov 1994 08:49:37',
    'Sun, 06 Foo 1994 08:49:37 GMT',
    '',
  ]) {
    assert.equal(parseHttpDate(bad), undefined, bad);
  }
});

test('entity-tag lists: commas inside quotes, weak tags, *', () => {
  assert.deepEqual(parseEtagList('"a", W/"b,c" ,"d"'), ['"a"', 'W/"b,c"', '"d"']);
  assert.deepEqual(parseEtagList(' * '), ['*']);
  assert.equal(listMatches('W/"x"', '"x"', false), true);
  assert.equal(listMatches('W/"x"', '"x"', true), false);
  assert.equal(listMatches('"y", "x"', '"x"', true), true);
  assert.match(makeEtag(1024, MTIME), /^"400-[0-9a-f]+"$/);
  assert.notEqual(makeEtag(1024, MTIME, 'br'), makeEtag(1024, MTIME));
});

// [headers, method, expected]: RFC 9110 §13.2.2 order.
const cases: Array<[string, Record<string, string>, string, 200 | 304 | 412]> = [
  ['no conditionals', {}, 'GET', 200],
  ['If-None-Match equal', { 'if-none-match': ETAG }, 'GET', 304],
  ['If-None-Match equal, HEAD', { 'if-none-match': ETAG }, 'HEAD', 304],
  ['If-None-Match weak form matches (weak comparison)', { 'if-none-match': 'W/' + ETAG }, 'GET', 304],
  ['If-None-Match in a list', { 'if-none-match': '"zz", ' + ETAG }, 'GET', 304],
  ['If-None-Match other', { 'if-none-match': '"other"' }, 'GET', 200],
  ['If-None-Match *', { 'if-none-match': '*' }, 'GET', 304],
  ['If-None-Match match on POST → 412', { 'if-none-match': ETAG }, 'POST', 412],
  ['If-Modified-Since equal', { 'if-modified-since': LM }, 'GET', 304],
  ['If-Modified-Since later', { 'if-modified-since': LATER }, 'GET', 304],
  ['If-Modified-Since earlier', { 'if-modified-since': EARLIER }, 'GET', 200],
  ['If-Modified-Since invalid is ignored', { 'if-modified-since': 'garbage' }, 'GET', 200],
  ['If-Modified-Since ignored on POST', { 'if-modified-since': LATER }, 'POST', 200],
  [
    'If-None-Match wins over If-Modified-Since',
    { 'if-none-match': '"other"', 'if-modified-since': LATER },
    'GET',
    200,
  ],
  ['If-Match equal', { 'if-match': ETAG }, 'GET', 200],
  ['If-Match other', { 'if-match': '"other"' }, 'GET', 412],
  ['If-Match weak never matches (strong comparison)', { 'if-match': 'W/' + ETAG }, 'GET', 412],
  ['If-Match *', { 'if-match': '*' }, 'GET', 200],
  ['If-Unmodified-Since later', { 'if-unmodified-since': LATER }, 'GET', 200],
  ['If-Unmodified-Since equal', { 'if-unmodified-since': LM }, 'GET', 200],
  ['If-Unmodified-Since earlier', { 'if-unmodified-since': EARLIER }, 'GET', 412],
  ['If-Unmodified-Since invalid is ignored', { 'if-unmodified-since': 'nope' }, 'GET', 200],
  [
    'If-Match true overrides If-Unmodified-Since',
    { 'if-match': ETAG, 'if-unmodified-since': EARLIER },
    'GET',
    200,
  ],
  ['If-Match fails before If-None-Match', { 'if-match': '"x"', 'if-none-match': ETAG }, 'GET', 412],
  ['If-Match ok then If-None-Match matches', { 'if-match': ETAG, 'if-none-match': ETAG }, 'GET', 304],
];

for (const [name, headers, method, expected] of cases) {
  test(`checkPreconditions: ${name}`, () => {
    assert.equal(checkPreconditions(fakeHeaders(headers), method, ETAG, MTIME), expected);
  });
}

test('checkPreconditions without validators', () => {
  assert.equal(checkPreconditions(fakeHeaders({ 'if-match': '"a"' }), 'GET', undefined, undefined), 412);
  assert.equal(checkPreconditions(fakeHeaders({ 'if-match': '*' }), 'GET', undefined, undefined), 200);
  assert.equal(
    checkPreconditions(fakeHeaders({ 'if-modified-since': LATER }), 'GET', undefined, undefined),
    200,
  );
});

test('checkPreconditions joins repeated If-None-Match fields', () => {
  const headers = fakeHeaders([
    ['if-none-match', '"a"'],
    ['if-none-match', ETAG],
  ]);
  assert.equal(checkPreconditions(headers, 'GET', ETAG, MTIME), 304);
});
