import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalisePath, pathNeedsNormalising } from './path.ts';

/** The normal form of a whole target's path (the query is the parser's business). */
function normal(path: string): string {
  return pathNeedsNormalising(path, 0, path.length) ? normalisePath(path, 0, path.length) : path;
}

describe('pathNeedsNormalising', () => {
  it('lets ordinary paths through with one scan', () => {
    for (const path of [
      '/',
      '/a',
      '/a/b/',
      '/index.html',
      '/.well-known/x',
      '/a/.hidden',
      '/a/..b',
      '/a/b..',
      '/a.',
      '/?x=/../%zz',
    ])
      assert.equal(pathNeedsNormalising(path, 0, path.length), false, path);
  });

  it('sends anything with %, \\, //, or a dot-segment to the slow path', () => {
    for (const path of [
      '/%41',
      '/a\\b',
      '//a',
      '/a//',
      '/.',
      '/..',
      '/a/./b',
      '/a/../b',
      '/a/.?q',
      '/a/..?q',
      '/a/..;/b',
    ])
      assert.equal(pathNeedsNormalising(path, 0, path.length), true, path);
  });
});

describe('normalisePath (RFC 3986 §6.2.2, §5.2.4, as nginx applies them)', () => {
  const table: Array<[string, string]> = [
    // dot-segments
    ['/a/./b', '/a/b'],
    ['/a/../b', '/b'],
    ['/a/b/c/../../d', '/a/d'],
    ['/a/.', '/a/'],
    ['/a/..', '/'],
    ['/a/b/..', '/a/'],
    ['/./a', '/a'],
    // merged slashes
    ['//api/x', '/api/x'],
    ['/a//b///c', '/a/b/c'],
    ['/a//', '/a/'],
    // unreserved escapes decoded, others kept with upper-case hex
    ['/%61pi/x', '/api/x'],
    ['/%7Euser/%2D%5f%2e', '/~user/-_.'],
    ['/api/%2e%2e/internal', '/internal'],
    ['/x/.%2E/a/%2e/b', '/a/b'],
    ['/a%2fb', '/a%2Fb'],
    ['/%e6%97%a5', '/%E6%97%A5'],
    ['/%20x', '/%20x'],
    // decoded once: %25 is not unreserved
    ['/%252e%252e/x', '/%252e%252e/x'],
    // a `;` only matters right after a dot-segment name (servlet path parameters)
    ['/a;../b', '/a;../b'],
    ['/%00;./x', '/%00;./x'],
  ];
  for (const [input, expected] of table) {
    it(`${input} → ${expected}`, () => assert.equal(normal(input), expected));
  }

  const refused: Array<[string, string]> = [
    ['/..', 'path goes above the root'],
    ['/a/../..', 'path goes above the root'],
    ['/%2e%2e/x', 'path goes above the root'],
    ['/.%2e/', 'path goes above the root'],
    ['/%', 'invalid percent-encoding in path'],
    ['/%4', 'invalid percent-encoding in path'],
    ['/%zz', 'invalid percent-encoding in path'],
    ['/a/..%2fb', 'dot-segment next to an encoded slash, a backslash or a semicolon'],
    ['/a/b%2F..', 'dot-segment next to an encoded slash, a backslash or a semicolon'],
    ['/a/.%5cb', 'dot-segment next to an encoded slash, a backslash or a semicolon'],
    ['/a\\..\\b', 'dot-segment next to an encoded slash, a backslash or a semicolon'],
    ['/%2e%2e%2fx', 'dot-segment next to an encoded slash, a backslash or a semicolon'],
    ['/api/..;/manager', 'dot-segment next to an encoded slash, a backslash or a semicolon'],
    ['/api/.;x=1/y', 'dot-segment next to an encoded slash, a backslash or a semicolon'],
  ];
  for (const [input, problem] of refused) {
    it(`${input} → 400 (${problem})`, () => assert.equal(normal(input), problem));
  }

  it('reads only its slice of a longer string', () => {
    const line = 'GET /a/../b?x=/c HTTP/1.1';
    assert.equal(normalisePath(line, 4, 11), '/b');
  });
});
