/**
 * The PROXY protocol (HAProxy's spec, versions 1 and 2): a balancer that passes TCP through writes one
 * header naming the client before the client's bytes (before a TLS ClientHello too). A listener with
 * `proxy_protocol = true` reads that header here, on the connection's setup path, then hands the socket
 * on with the client's address; the request path never sees any of this.
 *
 * Only peers in `proxy_protocol_trusted` may send it: any other peer is disconnected before a byte is
 * read (it went around the balancer, or the list is wrong; either way its claimed address must not be
 * believed, and a plain request from it would be read as a broken header anyway). A header must be
 * complete within the header timeout and within its size limit (v1: 107 bytes, RFC-like text line; v2:
 * 16 bytes + at most 4080 of addresses and TLVs), or the connection is closed without an answer: the
 * peer is a balancer, not a browser, and there is no protocol yet to answer in.
 */
import type net from 'node:net';
import { isIPv4, isIPv6 } from 'node:net';
import type { AddressList } from '../server/cidr.ts';

/** The client a header named: the address and port the balancer accepted the connection from. */
export interface ProxiedPeer {
  readonly address: string;
  readonly port: number;
}

/** A header still arriving, a bad one, or a whole one (`length` bytes; `peer` null: keep the socket's). */
export type ProxyHeaderResult =
  | { readonly kind: 'more' }
  | { readonly kind: 'bad'; readonly reason: string }
  | { readonly kind: 'ok'; readonly length: number; readonly peer: ProxiedPeer | null };

/** Longest v1 line, CRLF included (spec §2.1: "PROXY TCP6 " + two full IPv6 addresses + ports). */
export const V1_MAX = 107;
/** Longest v2 header accepted: the 16-byte fixed part and up to 4080 bytes of addresses and TLVs. */
export const V2_MAX = 4096;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const MORE: ProxyHeaderResult = { kind: 'more' };

function bad(reason: string): ProxyHeaderResult {
  return { kind: 'bad', reason };
}

/** Whether `buf` starts like `prefix` as far as both go. */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.compare(prefix, 0, n, 0, n) === 0;
}

/** Parse the header at the start of `buf` (the bytes received so far). */
export function parseProxyHeader(buf: Buffer): ProxyHeaderResult {
  if (buf.length === 0) return MORE;
  if (buf[0] === 0x50) return startsLike(buf, V1_PREFIX) ? parseV1(buf) : bad('not a PROXY protocol header');
  if (buf[0] === 0x0d)
    return startsLike(buf, V2_SIGNATURE) ? parseV2(buf) : bad('not a PROXY protocol header');
  return bad('not a PROXY protocol header');
}

const PORT = /^(?:0|[1-9]\d{0,4})$/;

/** Version 1: `PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\r\n` or `PROXY UNKNOWN…\r\n` (spec §2.1). */
function parseV1(buf: Buffer): ProxyHeaderResult {
  // The CR may be at most at V1_MAX - 2, leaving room for its LF.
  const scan = Math.min(buf.length, V1_MAX - 1);
  let end = -1;
  for (let i = V1_PREFIX.length; i < scan; i++) {
    const c = buf[i]!;
    if (c === 0x0d) {
      if (i + 1 >= buf.length) return MORE;
      if (buf[i + 1] !== 0x0a) return bad('v1 header: CR without LF');
      end = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) return bad('v1 header: a byte that is not printable ASCII');
  }
  if (end === -1) return buf.length >= V1_MAX - 1 ? bad(`v1 header longer than ${V1_MAX} bytes`) : MORE;
  const length = end + 2;
  const fields = buf.toString('latin1', V1_PREFIX.length, end).split(' ');
  if (fields[0] === 'UNKNOWN') return { kind: 'ok', length, peer: null };
  if (fields.length !== 5) return bad('v1 header: expected TCP4|TCP6 and four fields');
  const [proto, src, dst, sport, dport] = fields as [string, string, string, string, string];
  const valid = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : null;
  if (valid === null) return bad(`v1 header: unknown protocol "${proto}"`);
  if (!valid(src) || !valid(dst)) return bad(`v1 header: not ${proto} addresses`);
  if (!PORT.test(sport) || !PORT.test(dport) || Number(sport) > 65535 || Number(dport) > 65535)
    return bad('v1 header: ports must be 0 to 65535');
  return { kind: 'ok', length, peer: { address: src, port: Number(sport) } };
}

/** Version 2: 12-byte signature, version/command, family/transport, length, addresses, TLVs (§2.2). */
function parseV2(buf: Buffer): ProxyHeaderResult {
  if (buf.length < 16) return MORE;
  const versionCommand = buf[12]!;
  if (versionCommand >> 4 !== 2) return bad('v2 header: version is not 2');
  const command = versionCommand & 0x0f;
  if (command > 1) return bad('v2 header: command is neither LOCAL nor PROXY');
  const familyTransport = buf[13]!;
  const family = familyTransport >> 4;
  const transport = familyTransport & 0x0f;
  if (family > 3 || transport > 2) return bad('v2 header: unknown address family or transport');
  const length = 16 + buf.readUInt16BE(14);
  if (length > V2_MAX) return bad(`v2 header longer than ${V2_MAX} bytes`);
  if (buf.length < length) return MORE;
  // LOCAL: the balancer's own connection (a health check): the socket's peer is the right address.
  // UNSPEC and UNIX carry no IP address of the client: keep the socket's peer as well (nginx does).
  if (command === 0 || family === 0 || family === 3) return { kind: 'ok', length, peer: null };
  if (transport !== 1) return bad('v2 header: not a stream (TCP) connection');
  if (family === 1) {
    if (length < 16 + 12) return bad('v2 header: too short for IPv4 addresses');
    const address = `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`;
    return { kind: 'ok', length, peer: { address, port: buf.readUInt16BE(24) } };
  }
  if (length < 16 + 36) return bad('v2 header: too short for IPv6 addresses');
  return { kind: 'ok', length, peer: { address: ipv6Text(buf, 16), port: buf.readUInt16BE(48) } };
}

/** RFC 5952 text of the 16 bytes at `offset` (IPv4-mapped as `::ffff:a.b.c.d`, as node reports peers). */
export function ipv6Text(buf: Buffer, offset: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(offset + 2 * i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${buf[offset + 12]}.${buf[offset + 13]}.${buf[offset + 14]}.${buf[offset + 15]}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** What a PROXY protocol listener needs to read headers. */
export interface ProxyProtocolOptions {
  /** Peers allowed to send a header; any other is disconnected at once. */
  readonly trusted: AddressList;
  /** Time for the whole header to arrive (ms); 0: 10 s. */
  readonly timeoutMs: number;
  /** A connection dropped, for the log (rate-limited by the caller). */
  readonly onRejected?: (reason: string, socket: net.Socket) => void;
}

/**
 * Read the PROXY header of a freshly accepted `socket`, then call `next(socket, peer, rest)` with the
 * client it names (null: keep the socket's peer) and the bytes read after the header (the client's
 * first bytes). `next` runs inside the read that completed the header, with the socket still flowing and
 * no 'data' listener left: it must attach its own or pause before returning.
 */
export function readProxyHeader(
  socket: net.Socket,
  options: ProxyProtocolOptions,
  next: (socket: net.Socket, peer: ProxiedPeer | null, rest: Buffer) => void,
): void {
  socket.on('error', noop);
  if (!options.trusted.has(socket.remoteAddress ?? '')) {
    options.onRejected?.('peer not in proxy_protocol_trusted', socket);
    socket.destroy();
    return;
  }
  const timer = setTimeout(() => {
    finish();
    options.onRejected?.('no complete PROXY protocol header in time', socket);
    socket.destroy();
  }, options.timeoutMs || 10_000);
  let seen: Buffer = Buffer.alloc(0);
  const finish = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', finish);
  };
  const onData = (chunk: Buffer): void => {
    seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
    const result = parseProxyHeader(seen);
    if (result.kind === 'more') return;
    finish();
    if (result.kind === 'bad') {
      options.onRejected?.(result.reason, socket);
      socket.destroy();
      return;
    }
    next(socket, result.peer, seen.subarray(result.length));
  };
  // A peer that ends before the header is complete gets nothing more.
  const onEnd = (): void => {
    finish();
    socket.destroy();
  };
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', finish);
}

function noop(): void {}
