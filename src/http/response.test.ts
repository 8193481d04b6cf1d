import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { Headers } from './headers.ts';
import { HttpRequest } from './request.ts';
import { HttpResponse, type ResponseSink } from './response.ts';
import type { ConnectionInfo, ParsedHead } from './types.ts';

const CONN: ConnectionInfo = {
  id: 1,
  remoteAddress: '',
  remotePort: 0,
  localAddress: '',
  localPort: 0,
  requestCount: 1,
};

/** A sink that records what a response hands to the connection. */
class Recorder implements ResponseSink {
  writes: Buffer[] = [];
  endedCount = 0;
  prepareHead(): void {}
  output(_res: HttpResponse, a: Buffer, b: Buffer | null, c: Buffer | null): boolean {
    for (const buf of [a, b, c]) if (buf !== null && buf.length > 0) this.writes.push(buf);
    return true;
  }
  ended(): void {
    this.endedCount++;
  }
  wantDrain(): void {}
  destroyResponse(): void {}
  get text(): string {
    return Buffer.concat(this.writes).toString('latin1');
  }
}

function make(method = 'GET', versionMinor: 0 | 1 = 1, keepAlive = true): [HttpResponse, Recorder] {
  const head: ParsedHead = {
    method,
    target: '/',
    status: 0,
    reason: '',
    versionMinor,
    headers: Headers.from([['host', 'h']]),
    contentLength: -1,
    chunked: false,
    keepAlive,
    expectContinue: false,
    upgrade: false,
  };
  const sink = new Recorder();
  return [new HttpResponse(sink, new HttpRequest(head, null, keepAlive, CONN, 0)), sink];
}

const withoutDate = (s: string) => s.replace(/Date: [^\r]+\r\n/, '');

describe('HttpResponse', () => {
  it('writes head and small body in one buffer', () => {
    const [res, sink] = make();
    res.setHeader('Content-Type', 'text/plain').end('hi');
    assert.equal(sink.writes.length, 1);
    assert.equal(
      withoutDate(sink.text),
      'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi',
    );
    assert.equal(res.bodyBytes, 2);
    assert.equal(sink.endedCount, 1);
  });

  it('frames streamed bodies as chunks and never emits an empty chunk early', () => {
    const [res, sink] = make();
    res.write('abc');
    res.write('');
    res.write(Buffer.alloc(20_000, 0x7a));
    res.end();
    const text = withoutDate(sink.text);
    assert.ok(text.startsWith('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4e20\r\n'));
    assert.ok(text.endsWith('z\r\n0\r\n\r\n'));
    assert.equal(res.bodyBytes, 20_003);
  });

  it('truncates bytes beyond a declared Content-Length and closes on a short body', () => {
    const [res, sink] = make();
    res.setHeader('content-length', '3');
    res.write('ab');
    res.end('cd');
    assert.ok(sink.text.endsWith('\r\n\r\nabc'));
    const [short] = make();
    short.setHeader('Content-Length', 10);
    short.end('abc');
    assert.equal(short.keepAlive, false);
  });

  it('adds Connection per version and keep-alive', () => {
    const [a, sa] = make('GET', 0, true);
    a.end('x');
    assert.match(sa.text, /Connection: keep-alive\r\n/);
    const [b, sb] = make('GET', 1, false);
    b.end('x');
    assert.match(sb.text, /Connection: close\r\n/);
    const [c, sc] = make('GET', 1, true);
    c.setHeader('Connection', 'close').end();
    assert.equal(c.keepAlive, false);
    assert.equal((sc.text.match(/Connection/g) ?? []).length, 1);
  });

  it('validates names, values and status codes', () => {
    const [res] = make();
    assert.throws(() => res.setHeader('Bad Name', 'x'), TypeError);
    assert.throws(() => res.setHeader('X', 'a\nb'), TypeError);
    assert.throws(() => res.setHeader('Content-Length', '-1'), TypeError);
    res.statusCode = 42;
    assert.throws(() => res.end(), RangeError);
  });

  it('manages headers case-insensitively, in order', () => {
    const [res] = make();
    res.setHeader('X-A', '1').setHeader('x-b', 2).setHeader('X-a', ['3', '4']);
    assert.deepEqual(res.getHeader('x-A'), ['3', '4']);
    assert.equal(res.hasHeader('X-B'), true);
    res.removeHeader('X-B');
    assert.deepEqual(res.headerEntries(), [['X-a', ['3', '4']]]);
    res.end();
    assert.throws(() => res.setHeader('Late', 'x'));
  });

  it('captures the body: a single end(buffer) by reference, over the limit not at all', () => {
    const body = Buffer.from('cached');
    const [a] = make();
    a.captureBody(100);
    a.end(body);
    assert.equal(a.capturedBody, body);
    const [b] = make();
    b.captureBody(5);
    b.write('abc');
    b.end('def');
    assert.equal(b.capturedBody, null);
    const [c] = make();
    c.captureBody(10);
    c.write('abc');
    c.end('def');
    assert.equal(c.capturedBody?.toString(), 'abcdef');
  });

  it('sends a prebuilt head and a separate body as two buffers in one output, body uncopied', () => {
    const head = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n', 'latin1');
    const body = Buffer.from('body');
    const [res, sink] = make();
    res.sendPrebuilt(head, body);
    assert.equal(sink.writes.length, 2);
    assert.equal(sink.writes[0], head);
    assert.equal(sink.writes[1], body, 'the body buffer itself, not a copy');
    assert.equal(sink.text, 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody');
    assert.equal(res.bodyBytes, 4);
    assert.equal(sink.endedCount, 1);
    const [one, oneSink] = make();
    one.sendPrebuilt(Buffer.from('HTTP/1.1 204 No Content\r\n\r\n'), Buffer.alloc(0));
    assert.equal(oneSink.writes.length, 1, 'an empty body is no second buffer');
    assert.equal(one.bodyBytes, 0);
  });

  it('writes interim 1xx heads from a parsed field list, ahead of the final head, without Date', () => {
    const [res, sink] = make();
    const fields = Headers.from([
      ['LINK', '</a.css>; rel=preload'],
      ['content-length', '3'],
      ['Connection', 'close'],
    ]);
    assert.equal(res.writeInterim(103, fields), true);
    assert.equal(res.writeInterim(102), true);
    assert.equal(res.headersSent, false, 'the final head is still to come');
    res.end('ok');
    assert.equal(res.keepAlive, true, 'a 1xx says nothing about the connection');
    assert.match(
      sink.text,
      /^HTTP\/1\.1 103 Early Hints\r\nLINK: <\/a\.css>; rel=preload\r\n\r\nHTTP\/1\.1 102 Processing\r\n\r\nHTTP\/1\.1 200 OK\r\n/,
    );
    assert.equal(res.writeInterim(103), false, 'not after the final head');
    const [old, oldSink] = make('GET', 0);
    assert.equal(old.writeInterim(103, [['Link', '</a>']]), false);
    assert.equal(oldSink.writes.length, 0);
  });

  it('keeps one V8 shape whatever the handler did', () => {
    setFlagsFromString('--allow-natives-syntax');
    const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
    const [a] = make();
    a.end();
    const [b] = make('HEAD');
    b.setHeader('x', 'y');
    b.captureBody(10);
    b.onAbort(() => {});
    b.write('x');
    assert.ok(sameMap(a, b));
  });
});
