/**
 * The byte classes and constants every part of the HTTP/1.1 parser shares: lookup tables for tchar,
 * field-value, request-target, authority, qdtext and hex digits (one load per byte on the hot path), and
 * the small character helpers built on them. Pure data, built once at start-up.
 *
 * Why the parser's modules re-bind what they import (`import * as parserTables` then
 * `const { TOKEN } = parserTables`): measured, using imported bindings directly in the parser's loops made
 * the split parser 7-13% slower per message than the one-file parser it came from; module-local consts
 * brought it back level. (V8 reads an imported binding through its module cell on every use.)
 */

/** CR, LF, SP, HTAB: the bytes that end lines and separate fields (RFC 9112 §2.2, §3, §5). */
export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HTAB = 9;
/** A zero-length buffer: the scratch line buffer until a line straddles two reads. */
export const EMPTY = Buffer.alloc(0);
/** Largest body length representable without losing integer precision in a double. */
export const MAX_LENGTH = 2 ** 52;

// Byte classes, as lookup tables (one load per byte on the hot path).
/** tchar, RFC 9110 §5.6.2. */
export const TOKEN = new Uint8Array(256);
/** field-value bytes, RFC 9110 §5.5: 0 = forbidden (CTL, DEL), 1 = SP/HTAB, 2 = VCHAR / obs-text. */
export const FIELD_VALUE = new Uint8Array(256);
/**
 * request-target bytes: visible ASCII except `#` (a fragment is never part of a target, RFC 9112 §3.2);
 * 2 marks `/ % \ ?`, the bytes that path normalisation looks at (start-line.ts), 1 every other one.
 */
export const TARGET = new Uint8Array(256);
/** authority bytes (RFC 3986 §3.2): unreserved, sub-delims, `%`, `:`, `[`, `]`. No userinfo `@`. */
export const AUTHORITY = new Uint8Array(256);
/** qdtext (RFC 9110 §5.6.4): 1 = allowed inside a quoted-string without escaping. */
export const QDTEXT = new Uint8Array(256);
/** Hex digit values, -1 for other bytes. */
export const HEX = new Int8Array(256).fill(-1);

for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  TOKEN[c.charCodeAt(0)] = 1;
}
for (const c of "-._~!$&'()*+,;=%:[]0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
  AUTHORITY[c.charCodeAt(0)] = 1;
}
for (let c = 0; c < 256; c++) {
  FIELD_VALUE[c] = c === SP || c === HTAB ? 1 : (c > 0x20 && c < 0x7f) || c > 0x7f ? 2 : 0;
  TARGET[c] =
    c > 0x20 && c < 0x7f && c !== 0x23 ? (c === 0x2f || c === 0x25 || c === 0x5c || c === 0x3f ? 2 : 1) : 0;
  QDTEXT[c] =
    c === HTAB || c === SP || c === 0x21 || (c >= 0x23 && c <= 0x7e && c !== 0x5c) || c > 0x7f ? 1 : 0;
}
for (let d = 0; d < 16; d++) {
  HEX['0123456789abcdef'.charCodeAt(d)] = d;
  HEX['0123456789ABCDEF'.charCodeAt(d)] = d;
}

/** DIGIT (RFC 5234 §B.1). */
export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** A non-empty run of tchar (RFC 9110 §5.6.2). */
export function isToken(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) if (TOKEN[text.charCodeAt(i)] !== 1) return false;
  return true;
}

/** Node exposes this on every Buffer; it skips `toString`'s encoding dispatch. */
interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}
/** `src.toString('latin1', start, end)` without the dispatch. */
export function latin1(src: Buffer, start: number, end: number): string {
  return (src as unknown as Latin1Slicer).latin1Slice(start, end);
}
