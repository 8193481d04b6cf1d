/**
 * Header rewriting in both directions (RFC 9110 §7.6): hop-by-hop fields and the ones named in
 * `Connection` are dropped, framing is redone by each hop, `Via` and `X-Forwarded-*` are added.
 * The upstream request head is built as one string so that it goes out in one write.
 */

import { connectionNamed, HOP_BY_HOP } from '../http/semantics/hop-by-hop.ts';
import { statusText } from '../http/status.ts';
import type { HeaderList, ParsedHead, Request, Response } from '../http/types.ts';

/** Request fields the proxy writes itself (framing, Host, Expect, forwarding information). */
export const REQUEST_SKIP: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  'host',
  'content-length',
  'expect',
  'via',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
]);

/** Response fields the proxy writes itself (framing is the engine's, Via is merged). */
export const RESPONSE_SKIP: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'content-length', 'via']);

/**
 * `RESPONSE_SKIP.has(name)` for a lower-cased name, by length first: a parsed name is a fresh string, so
 * a Set lookup hashes it every time, while most names fall out here on their length alone.
 */
export function responseSkipped(name: string): boolean {
  switch (name.length) {
    case 2:
      return name === 'te';
    case 3:
      return name === 'via';
    case 7:
      return name === 'trailer' || name === 'upgrade';
    case 10:
      return name === 'connection' || name === 'keep-alive';
    case 14:
      return name === 'content-length';
    case 16:
      return name === 'proxy-connection';
    case 17:
      return name === 'transfer-encoding';
    case 18:
      return name === 'proxy-authenticate';
    case 19:
      return name === 'proxy-authorization';
    default:
      return false;
  }
}

/** `REQUEST_SKIP.has(name)` for a lower-cased name (see `responseSkipped`). */
export function requestSkipped(name: string): boolean {
  switch (name.length) {
    case 4:
      return name === 'host';
    case 6:
      return name === 'expect';
    case 15:
      return name === 'x-forwarded-for';
    case 16:
      return name === 'x-forwarded-host' || name === 'proxy-connection';
    case 17:
      return name === 'x-forwarded-proto' || name === 'transfer-encoding';
    default:
      return responseSkipped(name);
  }
}

/** How the request body is framed upstream. */
export type BodyFraming = 'none' | 'length' | 'chunked';

/** Everything besides the request itself that shapes the upstream request head. */
export interface RequestHeadOptions {
  /** Value of the Host field to send (routes.ts `upstreamHost`). */
  host: string;
  /** The request-target to send (routes.ts `upstreamTarget`). @default req.target */
  target?: string;
  /** Forward fields whose name contains `_`; dropped otherwise (nginx's default). @default false */
  underscores?: boolean;
  /** Our Via pseudonym. */
  via: string;
  framing: BodyFraming;
  /** Send `Expect: 100-continue` (the client asked for it). */
  expectContinue: boolean;
  /** Ask the backend to close after the response (keepalive = 0). */
  close: boolean;
  /**
   * The client's `Upgrade` value when the request is relayed as an upgrade (tunnel.ts): `Connection:
   * upgrade` and `Upgrade` are then sent on although they are hop-by-hop (RFC 9110 §7.6.1, §7.8), and
   * `close` is ignored (the connection is never pooled).
   */
  upgrade?: string;
}

/**
 * Our Via entries for the last pseudonym (routes almost always share one): built once, not per message (a
 * fresh concatenation per response would also be flattened again when the engine validates the value).
 */
let viaPseudonym = '';
let via11 = '';
let via10 = '';
let viaLine11 = '';

function rememberVia(pseudonym: string): void {
  if (pseudonym === viaPseudonym) return;
  viaPseudonym = pseudonym;
  via11 = `1.1 ${pseudonym}`;
  via10 = `1.0 ${pseudonym}`;
  viaLine11 = `Via: ${via11}\r\n`;
}

/** Our Via entry for a message of HTTP/1.`minor` (RFC 9110 §7.6.3). */
export function viaEntry(pseudonym: string, minor: number): string {
  rememberVia(pseudonym);
  return minor === 1 ? via11 : via10;
}

/** Serialise the request head sent upstream (HTTP/1.1, origin-form target), in one pass over the fields. */
export function buildRequestHead(req: Request, options: RequestHeadOptions): string {
  const headers = req.headers;
  const named = headers.has('connection') ? connectionNamed(headers) : null;
  const underscores = options.underscores === true;
  let head = `${req.method} ${options.target ?? req.target} HTTP/1.1\r\nHost: ${options.host}\r\n`;
  // The fields we rewrite are picked up on the way (first Content-Length, joined lists otherwise).
  let forwardedFor: string | undefined;
  let via: string | undefined;
  let length: string | undefined;
  let trailer: string | undefined;
  for (let i = 0; i < headers.length; i++) {
    const name = headers.name(i);
    if (requestSkipped(name)) {
      const value = headers.value(i);
      if (name === 'x-forwarded-for')
        forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
      else if (name === 'via') via = via === undefined ? value : `${via}, ${value}`;
      else if (name === 'content-length') length ??= value;
      else if (name === 'trailer') trailer = trailer === undefined ? value : `${trailer}, ${value}`;
      continue;
    }
    if (named?.includes(name)) continue;
    // `X_Real_IP` would reach a CGI-style backend as the `X-Real-IP` it trusts (nginx drops these too).
    if (!underscores && name.includes('_')) continue;
    head += `${headers.rawName(i)}: ${headers.value(i)}\r\n`;
  }
  const remote = req.connection.remoteAddress;
  head += `X-Forwarded-For: ${forwardedFor === undefined ? remote : `${forwardedFor}, ${remote}`}\r\n`;
  // Set from the connection the request came on; an X-Forwarded-Proto from the client is not trusted.
  head += req.connection.secure === true ? 'X-Forwarded-Proto: https\r\n' : 'X-Forwarded-Proto: http\r\n';
  // The normalised host (the one routes and cache keys use), not the client's field: see `upstreamHost`.
  if (req.host !== '') head += `X-Forwarded-Host: ${req.host}\r\n`;
  // RFC 9110 §7.6.3: received-protocol is the version of the message as we received it.
  rememberVia(options.via);
  const minor1 = req.versionMinor === 1;
  if (via !== undefined) head += `Via: ${via}, ${minor1 ? via11 : via10}\r\n`;
  else head += minor1 ? viaLine11 : `Via: ${via10}\r\n`;
  if (options.framing === 'length') head += `Content-Length: ${length ?? '0'}\r\n`;
  else if (options.framing === 'chunked') {
    head += 'Transfer-Encoding: chunked\r\n';
    if (trailer !== undefined) head += `Trailer: ${trailer}\r\n`;
  }
  if (options.expectContinue) head += 'Expect: 100-continue\r\n';
  if (options.upgrade !== undefined) head += `Connection: upgrade\r\nUpgrade: ${options.upgrade}\r\n`;
  else if (options.close) head += 'Connection: close\r\n';
  return `${head}\r\n`;
}

/**
 * Copy a backend response's status and end-to-end fields onto the client response. `Content-Length` is
 * kept when the backend framed by length (the engine then frames the same way; HEAD keeps the GET's
 * length), `Via` gets our entry appended.
 */
export function copyResponseHead(head: ParsedHead, res: Response, viaEntry: string): void {
  res.statusCode = head.status;
  // The standard phrase goes as '' so the engine writes its cached status line (no validation, no concat).
  res.statusMessage = head.reason === statusText(head.status) ? '' : head.reason;
  const headers = head.headers;
  const named = headers.has('connection') ? connectionNamed(headers) : null;
  for (let i = 0; i < headers.length; i++) {
    const name = headers.name(i);
    if (responseSkipped(name) || named?.includes(name)) continue;
    const value = headers.value(i);
    const previous = res.getHeader(name);
    if (previous === undefined) res.setHeader(headers.rawName(i), value);
    else if (typeof previous === 'string') res.setHeader(headers.rawName(i), [previous, value]);
    else res.setHeader(headers.rawName(i), [...(previous as readonly string[]), value]);
  }
  if (!head.chunked && head.contentLength >= 0) res.setHeader('Content-Length', head.contentLength);
  res.setHeader('Via', forwardedVia(headers, viaEntry));
}

/**
 * The end-to-end fields of a backend's response as `[rawName, value]` pairs, chosen as `copyResponseHead`
 * chooses them (hop-by-hop ones and those named in its `Connection` dropped, RFC 9110 §7.6.1; `Via` too:
 * see `forwardedVia`). For the heads written as text: interim 1xx responses and a tunnel's 101.
 */
export function endToEndFields(headers: HeaderList): Array<[string, string]> {
  const named = headers.has('connection') ? connectionNamed(headers) : null;
  const fields: Array<[string, string]> = [];
  for (let i = 0; i < headers.length; i++) {
    const name = headers.name(i);
    if (responseSkipped(name) || named?.includes(name)) continue;
    fields.push([headers.rawName(i), headers.value(i)]);
  }
  return fields;
}

/** The `Via` value to forward: the entries received, then ours (RFC 9110 §7.6.3). */
export function forwardedVia(headers: HeaderList, viaEntry: string): string {
  const received = headers.getJoined('via');
  return received === undefined ? viaEntry : `${received}, ${viaEntry}`;
}

/**
 * Why a backend response's framing cannot be forwarded safely, or null. The parser already refuses
 * what RFC 9112 §6.3 calls invalid; this adds what we deliberately do not pass on: a transfer coding
 * other than `chunked` (it cannot be undone here, and forwarding it re-labelled would corrupt the body,
 * RFC 9112 §6.1) and repeated Content-Length fields, even identical ones (RFC 9110 §8.6 allows refusing
 * them, and Node's client does).
 */
export function framingProblem(headers: HeaderList): string | null {
  let lengths = 0;
  for (let i = 0; i < headers.length; i++) {
    const name = headers.name(i);
    if (name === 'content-length') {
      if (++lengths > 1) return 'repeated Content-Length';
    } else if (name === 'transfer-encoding' && headers.value(i).toLowerCase() !== 'chunked') {
      return 'unsupported transfer coding';
    }
  }
  return null;
}
