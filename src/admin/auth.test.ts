import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HeaderList, Request } from '../http/types.ts';
import { bearerToken, checkRequest, hostAllowed, isLoopback, sameOrigin, tokenMatches } from './auth.ts';

/** A request with just the header fields the checks read. */
function request(fields: Record<string, string>): Request {
  const entries = Object.entries(fields).map(([k, v]) => [k.toLowerCase(), v] as const);
  const headers = {
    get: (name: string) => entries.find(([k]) => k === name)?.[1],
  } as HeaderList;
  return { headers } as Request;
}

describe('admin auth', () => {
  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1']) {
      assert.equal(isLoopback(host), true, host);
    }
    for (const host of ['0.0.0.0', '::', '192.168.1.10', '10.0.0.1', 'example.com', '128.0.0.1']) {
      assert.equal(isLoopback(host), false, host);
    }
  });

  it('accepts IP literals, localhost and configured names in Host; nothing else', () => {
    const allowed = ['admin.example', '*.ops.example'];
    const table: Array<[string | undefined, boolean]> = [
      ['127.0.0.1:9090', true],
      ['10.1.2.3', true],
      ['[::1]:9090', true],
      ['[2001:db8::1]', true],
      ['localhost', true],
      ['LOCALHOST:9090', true],
      ['app.localhost', true],
      ['admin.example:443', true],
      ['x.ops.example', true],
      ['ops.example', false],
      ['evil.example', false],
      ['admin.example.evil', false],
      ['127.0.0.1.evil.example', false],
      ['', false],
      [undefined, false],
    ];
    for (const [host, expected] of table) assert.equal(hostAllowed(host, allowed), expected, String(host));
    assert.equal(hostAllowed('anything.example', ['*']), true);
  });

  it('compares tokens exactly, whatever their lengths', () => {
    assert.equal(tokenMatches('abc', 'abc'), true);
    assert.equal(tokenMatches('abc', 'abcd'), false);
    assert.equal(tokenMatches('', 'abc'), false);
  });

  it('reads the Bearer token (scheme case-insensitive, RFC 6750 §2.1)', () => {
    assert.equal(bearerToken(request({ authorization: 'Bearer t0k' })), 't0k');
    assert.equal(bearerToken(request({ authorization: 'bearer t0k' })), 't0k');
    assert.equal(bearerToken(request({ authorization: 'Basic dTpw' })), undefined);
    assert.equal(bearerToken(request({})), undefined);
  });

  it('tells same-origin from cross-origin', () => {
    const host = '127.0.0.1:9090';
    assert.equal(sameOrigin(request({ host, origin: 'http://127.0.0.1:9090' })), true);
    assert.equal(sameOrigin(request({ host, origin: 'https://127.0.0.1:9090' })), true, 'behind a TLS proxy');
    assert.equal(sameOrigin(request({ host, origin: 'http://127.0.0.1:9091' })), false);
    assert.equal(sameOrigin(request({ host, origin: 'http://evil.example' })), false);
    assert.equal(sameOrigin(request({ host, origin: 'null' })), false);
    assert.equal(sameOrigin(request({ host, 'sec-fetch-site': 'same-origin' })), true);
    assert.equal(sameOrigin(request({ host, 'sec-fetch-site': 'same-site' })), false);
    assert.equal(sameOrigin(request({ host })), true, 'not a browser (curl)');
  });

  it('checks Host, then origin, then token, in that order', () => {
    const policy = { token: 'secret-token', tokenForReads: false, allowedHosts: [] };
    const ok = { host: '127.0.0.1', authorization: 'Bearer secret-token' };
    assert.equal(checkRequest(request({ host: '127.0.0.1' }), policy, true, false), undefined);
    assert.equal(
      checkRequest(request({ ...ok, host: 'evil.example' }), policy, true, true)?.error,
      'forbidden_host',
    );
    assert.equal(
      checkRequest(request({ ...ok, origin: 'http://evil.example' }), policy, true, true)?.error,
      'cross_origin',
    );
    assert.equal(checkRequest(request({ host: '127.0.0.1' }), policy, true, true)?.status, 401);
    assert.equal(checkRequest(request(ok), policy, true, true), undefined);
    const strict = { ...policy, tokenForReads: true };
    assert.equal(checkRequest(request({ host: '127.0.0.1' }), strict, true, false)?.status, 401);
    assert.equal(
      checkRequest(request({ host: '127.0.0.1' }), strict, false, false),
      undefined,
      'dashboard files',
    );
  });
});
