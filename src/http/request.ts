/**
 * The request object handed to plugins. One class whose fields are all assigned in the constructor, always
 * in the same order, so every request shares one V8 hidden class (monomorphic property access downstream).
 */
import type { Readable } from 'node:stream';
import { Headers } from './headers.ts';
import { normalisePath, pathNeedsNormalising } from './path.ts';
import type { ConnectionInfo, HeaderList, ParsedHead, Request } from './types.ts';

/** Request fields a plugin may not edit: framing (the parser's) and hop-by-hop (RFC 9110 §7.6.1). */
const RESERVED = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'upgrade',
  'proxy-connection',
  'expect',
]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** An origin-form target: `/`, then no whitespace, controls or `#`. */
const ORIGIN_FORM = /^\/[^\s\x00-\x1f\x7f#]*$/;

export class HttpRequest implements Request {
  readonly method: string;
  target: string;
  rawTarget: string;
  path: string;
  query: string;
  readonly versionMinor: 0 | 1;
  headers: HeaderList;
  host: string;
  readonly body: Readable | null;
  /** Set by the connection when a chunked body ends. */
  trailers: HeaderList | null;
  /** Decided when the head was parsed; the response may still close the connection (`res.keepAlive`). */
  keepAlive: boolean;
  readonly connection: ConnectionInfo;
  readonly startTime: number;
  originalTarget: string;
  clientAddress: string;

  constructor(
    head: ParsedHead,
    body: Readable | null,
    keepAlive: boolean,
    connection: ConnectionInfo,
    startTime: number,
  ) {
    let target = head.target;
    let host: string | undefined;
    if (target.charCodeAt(0) !== 47 /* '/' */ && target !== '*') {
      // Absolute-form (RFC 9112 §3.2.2): the authority replaces Host, the target becomes origin-form.
      const abs = splitAbsoluteForm(target);
      if (abs !== null) {
        host = abs[0];
        target = abs[1];
      }
    }
    const q = target.indexOf('?');
    this.method = head.method;
    this.target = target;
    this.rawTarget = head.rawTarget ?? target;
    this.path = q === -1 ? target : target.slice(0, q);
    this.query = q === -1 ? '' : target.slice(q + 1);
    this.versionMinor = head.versionMinor;
    this.headers = head.headers;
    // The parser may already hand over the normalised host (absolute-form authority or Host field).
    const parsedHost = (head as ParsedHead & { host?: string }).host;
    this.host =
      host !== undefined || parsedHost === undefined
        ? normaliseHost(host ?? head.headers.get('host') ?? '')
        : parsedHost;
    this.body = body;
    this.trailers = null;
    this.keepAlive = keepAlive;
    this.connection = connection;
    this.startTime = startTime;
    this.originalTarget = this.rawTarget;
    this.clientAddress = connection.remoteAddress;
  }

  setClientAddress(address: string): void {
    this.clientAddress = address;
  }

  rewrite(target: string): void {
    if (!ORIGIN_FORM.test(target)) throw new TypeError(`Invalid rewritten target "${target}"`);
    let q = target.indexOf('?');
    // Later stages rely on the normal form of the path, as for a received target; a route that forwards
    // the target as sent (`rawTarget`) forwards the rewritten one.
    this.rawTarget = target;
    if (pathNeedsNormalising(target, 0, target.length)) {
      const pathEnd = q === -1 ? target.length : q;
      const path = normalisePath(target, 0, pathEnd);
      if (path.charCodeAt(0) !== 0x2f) throw new TypeError(`Invalid rewritten target "${target}": ${path}`);
      target = path + target.slice(pathEnd);
      q = target.indexOf('?');
    }
    this.target = target;
    this.path = q === -1 ? target : target.slice(0, q);
    this.query = q === -1 ? '' : target.slice(q + 1);
  }

  setHeader(name: string, value: string | null): void {
    const key = checkField(name, value);
    const list = this.ownHeaders();
    for (let i = list.names.length - 1; i >= 0; i--) {
      if (list.names[i] !== key) continue;
      list.names.splice(i, 1);
      list.rawNames.splice(i, 1);
      list.values.splice(i, 1);
    }
    if (value !== null) list.add(name, value, key);
    if (key === 'host') this.host = normaliseHost(value ?? '');
  }

  appendHeader(name: string, value: string): void {
    const key = checkField(name, value);
    this.ownHeaders().add(name, value, key);
    if (key === 'host' && this.host === '') this.host = normaliseHost(value);
  }

  /** The parser's list is shared with nothing, but the empty one is: copy before the first edit. */
  private ownHeaders(): Headers {
    const current = this.headers;
    if (current instanceof Headers && !Object.isFrozen(current)) return current;
    const copy = new Headers();
    for (let i = 0; i < current.length; i++) copy.add(current.rawName(i), current.value(i), current.name(i));
    this.headers = copy;
    return copy;
  }
}

function checkField(name: string, value: string | null): string {
  if (!TOKEN.test(name)) throw new TypeError(`Invalid header name "${name}"`);
  const key = name.toLowerCase();
  if (RESERVED.has(key)) throw new TypeError(`Request header "${name}" is framing or hop-by-hop`);
  if (value !== null && BAD_VALUE.test(value))
    throw new TypeError(`Invalid character in value of header "${name}"`);
  return key;
}

/** `http://Host:80/p?q` → `['Host:80', '/p?q']`; null when `target` has no `scheme://`. */
function splitAbsoluteForm(target: string): [string, string] | null {
  const schemeEnd = target.indexOf('://');
  if (schemeEnd <= 0) return null;
  const start = schemeEnd + 3;
  let end = start;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) break;
    end++;
  }
  let authority = target.slice(start, end);
  const at = authority.lastIndexOf('@');
  if (at !== -1) authority = authority.slice(at + 1);
  let rest = target.slice(end);
  if (rest === '') rest = '/';
  else if (rest.charCodeAt(0) === 63) rest = '/' + rest;
  return [authority, rest];
}

/**
 * Lower-case the host and drop the port and a trailing dot (`Example.COM.:80` → `example.com`: the
 * fully qualified form names the same host, as nginx and Caddy match it); keeps IPv6 literals in brackets
 * (`[::1]:8080` → `[::1]`).
 */
export function normaliseHost(value: string): string {
  if (value === '') return value;
  let end: number;
  if (value.charCodeAt(0) === 91 /* [ */) {
    end = value.indexOf(']');
    end = end === -1 ? value.length : end + 1;
  } else {
    end = value.indexOf(':');
    if (end === -1) end = value.length;
  }
  if (end > 1 && value.charCodeAt(end - 1) === 46 /* . */) end--;
  const host = end === value.length ? value : value.slice(0, end);
  // Hosts are almost always lower-case already; skip the allocation then.
  return /[A-Z]/.test(host) ? host.toLowerCase() : host;
}
