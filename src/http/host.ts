/**
 * Host values (RFC 9110 §7.2) as the request parser reads them from the Host field, an absolute-form
 * target's authority and a CONNECT target: validated, lower-cased, without port or trailing dot.
 */
import * as parserTables from './parser-tables.ts';

// Module-local bindings, for speed: see parser-tables.ts.
const { AUTHORITY, isDigit } = parserTables;

/**
 * uri-host [ ":" port ] (RFC 9110 §7.2) → the host lower-cased without its port or a trailing dot; `''`
 * for an empty value; `undefined` when malformed (bad bytes, userinfo, non-numeric port, or no port where
 * one is required). One pass over the value; the last Host field's answer is remembered, since a server's
 * clients send the same few Host values over and over.
 */
export function hostOf(value: string, requirePort: boolean): string | undefined {
  if (!requirePort && value === lastHostValue) return lastHost;
  const len = value.length;
  let colon = -1;
  let close = -1;
  let brackets = false;
  let openAfterFirst = false;
  let upper = false;
  for (let i = 0; i < len; i++) {
    const c = value.charCodeAt(i);
    if (AUTHORITY[c] !== 1) return undefined;
    if (c === 0x3a) {
      if (colon === -1) colon = i;
    } else if (c === 0x5b) {
      brackets = true;
      if (i > 0) openAfterFirst = true;
    } else if (c === 0x5d) {
      brackets = true;
      if (close === -1) close = i;
    } else if (c >= 0x41 && c <= 0x5a) {
      upper = true;
    }
  }
  let hostEnd: number;
  if (value.charCodeAt(0) === 0x5b) {
    // IP-literal: up to the first `]`, and no second `[`.
    if (close === -1 || openAfterFirst) return undefined;
    hostEnd = close + 1;
  } else {
    if (brackets) return undefined;
    hostEnd = colon === -1 ? len : colon;
  }
  if (hostEnd < len) {
    if (value.charCodeAt(hostEnd) !== 0x3a || len - hostEnd > 6) return undefined;
    for (let i = hostEnd + 1; i < len; i++) if (!isDigit(value.charCodeAt(i))) return undefined;
  } else if (requirePort) {
    return undefined;
  }
  if (requirePort && hostEnd + 1 === len) return undefined;
  // A fully qualified name's trailing dot (`example.com.`) names the same host.
  const nameEnd = hostEnd > 1 && value.charCodeAt(hostEnd - 1) === 0x2e ? hostEnd - 1 : hostEnd;
  const host = nameEnd === len ? value : value.slice(0, nameEnd);
  const result = upper ? host.toLowerCase() : host;
  if (!requirePort) {
    lastHostValue = value;
    lastHost = result;
  }
  return result;
}

/** The memo of {@link hostOf} (for `requirePort` false): the last value and its answer. */
let lastHostValue: string | null = null;
let lastHost: string | undefined;
