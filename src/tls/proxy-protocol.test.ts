/**
 * The PROXY protocol header parser, from tables (HAProxy's spec, v1 and v2), byte by byte (a header split
 * over any number of reads), and against bounded random input (never throws, never asks for more than
 * the limit, never takes more bytes than it was given).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ipv6Text, parseProxyHeader, V1_MAX, V2_MAX } from './proxy-protocol.ts';
import { inet, v2 } from './test-proxy-header.ts';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function ok(buf: Buffer) {
  const r = parseProxyHeader(buf);
  assert.equal(r.kind, 'ok', JSON.stringify(r));
  return r as Extract<typeof r, { kind: 'ok' }>;
}

function badReason(buf: Buffer): string {
  const r = parseProxyHeader(buf);
  assert.equal(r.kind, 'bad', JSON.stringify(r));
  return (r as { reason: string }).reason;
}

describe('PROXY protocol v1', () => {
  it('TCP4 and TCP6 name the client; the length covers the CRLF only', () => {
    const line = 'PROXY TCP4 192.0.2.7 10.0.0.1 56324 443\r\n';
    const r = ok(Buffer.from(`${line}GET / HTTP/1.1\r\n`));
    assert.deepEqual(r.peer, { address: '192.0.2.7', port: 56324 });
    assert.equal(r.length, line.length);
    const six = ok(Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 65535 80\r\n'));
    assert.deepEqual(six.peer, { address: '2001:db8::7', port: 65535 });
  });

  it('UNKNOWN keeps the socket peer, whatever follows it on the line', () => {
    assert.equal(ok(Buffer.from('PROXY UNKNOWN\r\n')).peer, null);
    assert.equal(ok(Buffer.from('PROXY UNKNOWN ffff:: ffff:: 1 2\r\n')).peer, null);
  });

  it('asks for more until the CRLF, up to 107 bytes', () => {
    for (const part of ['P', 'PROX', 'PROXY TCP4 1.2.3.4', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r']) {
      assert.equal(parseProxyHeader(Buffer.from(part)).kind, 'more', part);
    }
    const longest = `PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`;
    assert.equal(longest.length, V1_MAX);
    assert.equal(ok(Buffer.from(longest)).length, V1_MAX);
    assert.match(badReason(Buffer.from(`${longest.slice(0, -2)}1\r\n`)), /longer than 107/);
    assert.match(badReason(Buffer.from(`PROXY UNKNOWN ${'x'.repeat(120)}`)), /longer than 107/);
  });

  it('refuses malformed lines with a reason', () => {
    const cases: Array<[string, RegExp]> = [
      ['PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', /unknown protocol/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', /four fields/],
      ['PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n', /four fields/],
      ['PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n', /addresses/],
      ['PROXY TCP4 ::1 ::1 1 2\r\n', /addresses/],
      ['PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n', /addresses/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', /ports/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', /ports/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n', /ports/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', /not printable/],
      ['PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX', /CR without LF/],
      ['GET / HTTP/1.1\r\n\r\n', /not a PROXY protocol header/],
      ['PROXZ', /not a PROXY protocol header/],
      ['proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n', /not a PROXY protocol header/],
    ];
    for (const [text, reason] of cases) assert.match(badReason(Buffer.from(text)), reason, text);
  });
});

describe('PROXY protocol v2', () => {
  it('PROXY over TCP/IPv4 and TCP/IPv6, TLVs skipped', () => {
    const tlv = Buffer.from([0x04, 0x00, 0x02, 0xaa, 0xbb]); // PP2_TYPE_NOOP
    const four = v2(1, 0x11, inet('198.51.100.9', '10.0.0.1', 40000, 443), tlv);
    const r = ok(Buffer.concat([four, Buffer.from('GET')]));
    assert.deepEqual(r.peer, { address: '198.51.100.9', port: 40000 });
    assert.equal(r.length, four.length);
    const addr6 = Buffer.alloc(36);
    Buffer.from('20010db8000000000000000000000007', 'hex').copy(addr6, 0);
    Buffer.from('20010db8000000000000000000000001', 'hex').copy(addr6, 16);
    addr6.writeUInt16BE(1234, 32);
    addr6.writeUInt16BE(443, 34);
    assert.deepEqual(ok(v2(1, 0x21, addr6)).peer, { address: '2001:db8::7', port: 1234 });
  });

  it('LOCAL, UNSPEC and UNIX keep the socket peer', () => {
    assert.equal(ok(v2(0, 0x00, Buffer.alloc(0))).peer, null);
    assert.equal(ok(v2(0, 0x11, inet('1.2.3.4', '5.6.7.8', 1, 2))).peer, null);
    assert.equal(ok(v2(1, 0x00, Buffer.alloc(0))).peer, null);
    assert.equal(ok(v2(1, 0x31, Buffer.alloc(216))).peer, null);
  });

  it('asks for more until the whole length arrived', () => {
    const whole = v2(1, 0x11, inet('1.2.3.4', '5.6.7.8', 1, 2));
    for (let n = 1; n < whole.length; n++)
      assert.equal(parseProxyHeader(whole.subarray(0, n)).kind, 'more', `${n}`);
    assert.equal(parseProxyHeader(whole).kind, 'ok');
  });

  it('refuses bad versions, commands, families, short blocks and oversized headers', () => {
    const good = v2(1, 0x11, inet('1.2.3.4', '5.6.7.8', 1, 2));
    const withByte = (i: number, value: number) => {
      const b = Buffer.from(good);
      b[i] = value;
      return b;
    };
    assert.match(badReason(withByte(12, 0x11)), /version/);
    assert.match(badReason(withByte(12, 0x22)), /command/);
    assert.match(badReason(withByte(13, 0x41)), /family/);
    assert.match(badReason(withByte(13, 0x12)), /stream/);
    assert.match(badReason(withByte(5, 0x00)), /not a PROXY/);
    assert.match(badReason(v2(1, 0x11, Buffer.alloc(8))), /too short/);
    assert.match(badReason(v2(1, 0x21, Buffer.alloc(12))), /too short/);
    const huge = Buffer.from(good);
    huge.writeUInt16BE(V2_MAX - 16 + 1, 14);
    assert.match(badReason(huge.subarray(0, 16)), /longer than 4096/);
    const largest = v2(1, 0x11, inet('1.2.3.4', '5.6.7.8', 1, 2), Buffer.alloc(V2_MAX - 16 - 12));
    assert.equal(ok(largest).length, V2_MAX);
  });

  it('prints IPv6 addresses as RFC 5952 text', () => {
    const text = (hex: string) => ipv6Text(Buffer.from(hex, 'hex'), 0);
    assert.equal(text('00000000000000000000000000000001'), '::1');
    assert.equal(text('00000000000000000000000000000000'), '::');
    assert.equal(text('20010db8000000010000000000000001'), '2001:db8:0:1::1');
    assert.equal(text('20010db8000000000001000000000001'), '2001:db8::1:0:0:1');
    assert.equal(text('20010db8000100020003000400050006'), '2001:db8:1:2:3:4:5:6');
    assert.equal(text('00000000000000000000ffffc0000207'), '::ffff:192.0.2.7');
  });
});

describe('PROXY protocol parser against random bytes (bounded)', () => {
  it('never throws and never reads past what it was given or past the limits', () => {
    // A small deterministic generator, so a failure can be replayed.
    let seed = 0x9e3779b9;
    const next = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    const v1 = Buffer.from('PROXY TCP4 192.0.2.1 192.0.2.2 1000 2000\r\n');
    const v2good = v2(1, 0x11, inet('192.0.2.1', '192.0.2.2', 1000, 2000));
    const seen = { ok: 0, bad: 0, more: 0 };
    for (let round = 0; round < 20_000; round++) {
      // Mutate a valid header (most interesting) or start from pure noise behind a valid prefix.
      const base = round % 3 === 0 ? v1 : round % 3 === 1 ? v2good : SIG;
      const buf = Buffer.concat([base, Buffer.alloc(next() % 64)]);
      for (let i = base === SIG ? 12 : 0; i < buf.length; i++)
        if (base === SIG || next() % 8 === 0) buf[i] = next() & 0xff;
      const r = parseProxyHeader(buf.subarray(0, next() % (buf.length + 1)));
      seen[r.kind]++;
      if (r.kind === 'ok') {
        assert.ok(r.length <= buf.length && r.length <= V2_MAX);
        if (r.peer !== null) assert.ok(r.peer.port >= 0 && r.peer.port <= 65535);
      }
    }
    assert.ok(seen.ok > 0 && seen.bad > 0 && seen.more > 0, JSON.stringify(seen));
  });
});
