import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { Headers } from './headers.ts';
import { HttpRequest, normaliseHost } from './request.ts';
import type { ConnectionInfo, ParsedHead } from './types.ts';

const CONN: ConnectionInfo = {
  id: 1,
  remoteAddress: '127.0.0.1',
  remotePort: 1,
  localAddress: '127.0.0.1',
  localPort: 2,
  requestCount: 1,
};

function head(target: string, fields: Array<[string, string]> = [['Host', 'Example.COM:8080']]): ParsedHead {
  return {
    method: 'GET',
    target,
    status: 0,
    reason: '',
    versionMinor: 1,
    headers: Headers.from(fields),
    contentLength: -1,
    chunked: false,
    keepAlive: true,
    expectContinue: false,
    upgrade: false,
  };
}

describe('HttpRequest', () => {
  it('splits path and query and normalises the host', () => {
    const req = new HttpRequest(head('/a/b?x=1&y'), null, true, CONN, 0);
    assert.equal(req.path, '/a/b');
    assert.equal(req.query, 'x=1&y');
    assert.equal(req.host, 'example.com');
    const bare = new HttpRequest(head('/', []), null, true, CONN, 0);
    assert.equal(bare.query, '');
    assert.equal(bare.host, '');
  });

  it('turns an absolute-form target into origin-form with its authority as host (RFC 9112 §3.2.2)', () => {
    const req = new HttpRequest(head('http://user@Other.org:81?q=1'), null, true, CONN, 0);
    assert.equal(req.target, '/?q=1');
    assert.equal(req.path, '/');
    assert.equal(req.host, 'other.org');
  });

  it('keeps IPv6 literals whole', () => {
    assert.equal(normaliseHost('[::1]:8080'), '[::1]');
    assert.equal(normaliseHost('[::1]'), '[::1]');
    assert.equal(normaliseHost('a.b'), 'a.b');
  });

  it('drops the trailing dot of a fully qualified name, with or without a port', () => {
    assert.equal(normaliseHost('Example.COM.'), 'example.com');
    assert.equal(normaliseHost('example.com.:8080'), 'example.com');
    assert.equal(normaliseHost('.'), '.');
  });

  it('keeps one V8 shape for every request, with or without body and query', () => {
    setFlagsFromString('--allow-natives-syntax');
    const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
    const a = new HttpRequest(head('/plain'), null, true, CONN, 1);
    const b = new HttpRequest(head('http://h/x?y', []), null, false, CONN, 2);
    b.trailers = Headers.from([['x', 'y']]);
    assert.ok(sameMap(a, b));
  });

  it('rewrite: later stages see the normal form, the raw target is the rewritten one, the log keeps the sent one', () => {
    const req = new HttpRequest({ ...head('/a/%7Eb?q'), rawTarget: '/a/%7Eb?q' }, null, true, CONN, 0);
    req.rewrite('/x/../y/%7Ez?k=1');
    assert.equal(req.path, '/y/~z');
    assert.equal(req.query, 'k=1');
    assert.equal(req.target, '/y/~z?k=1');
    assert.equal(req.rawTarget, '/x/../y/%7Ez?k=1');
    assert.equal(req.originalTarget, '/a/%7Eb?q');
    assert.throws(() => req.rewrite('/../../etc/passwd'), /goes above the root/);
    req.rewrite('//evil.example/');
    assert.equal(req.path, '/evil.example/', 'never a scheme-relative path for later stages');
    assert.throws(() => req.rewrite('evil'), /Invalid rewritten target/);
  });
});
