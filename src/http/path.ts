/**
 * The normal form of a request path, computed once by the parser so that every part of the server that
 * reads the path (the proxy's route match, both cache keys, the path sent upstream, the static file
 * lookup) reads the same bytes. Without it, `/api/../internal` matches a route written for `/api/` and
 * reaches a backend that resolves it elsewhere, and `//api/x` or `/%61pi/x` miss that route and reach
 * the static files instead (nginx normalises for the same reason).
 *
 * The rules (RFC 3986 §6.2.2, applied as nginx applies them, except where noted):
 * - percent-escapes of unreserved characters (ALPHA, DIGIT, `-`, `.`, `_`, `~`) are decoded (`%61` → `a`,
 *   `%2e` → `.`); every other escape stays encoded, its hex digits upper-cased (`%2f` → `%2F`); an
 *   invalid escape (`%zz`, a lone `%`) is refused;
 * - `.` and `..` segments are removed (RFC 3986 §5.2.4); a `..` that would climb above the root is
 *   refused (RFC 3986 would drop it silently; nginx answers 400, and so do we);
 * - `//` is merged into `/` (nginx's `merge_slashes`);
 * - an encoded `/` (`%2F`) stays encoded and is never a separator. nginx decodes it and would resolve
 *   `/api/..%2finternal` to `/internal`; we keep the bytes instead, and refuse a path in which a `.` or
 *   `..` would become a segment if a backend took `%2F`, `%5C` or `\` for a separator, or cut a segment
 *   at `;` (servlet path parameters: `..;`), since a route matched on one reading must not be resolved by
 *   the backend on another.
 *
 * The query is never touched. Decoding only unreserved characters happens once, so `%252e` stays `%252e`
 * (a literal `%2e` to anyone decoding it afterwards, such as the static file lookup).
 */

/** Why a path is refused: the reason given in the 400 answer. */
export type PathProblem =
  | 'invalid percent-encoding in path'
  | 'path goes above the root'
  | 'dot-segment next to an encoded slash, a backslash or a semicolon';

/** ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3), by byte. */
const UNRESERVED = new Uint8Array(128);
for (const c of '-._~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ') {
  UNRESERVED[c.charCodeAt(0)] = 1;
}
/** Hex digit values, -1 for other bytes. */
const HEX = new Int8Array(128).fill(-1);
for (let d = 0; d < 16; d++) {
  HEX['0123456789abcdef'.charCodeAt(d)] = d;
  HEX['0123456789ABCDEF'.charCodeAt(d)] = d;
}
const UPPER_HEX = '0123456789ABCDEF';

/**
 * Whether `src[start..end)`, an origin-form target, has anything {@link normalisePath} would change or
 * refuse in its path: a `%`, a `\`, `//`, or a `.` / `..` segment. One scan up to the `?`, no allocation:
 * what every ordinary request pays.
 */
export function pathNeedsNormalising(src: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = src.charCodeAt(i);
    if (c === 0x2f /* / */) {
      const n = i + 1 < end ? src.charCodeAt(i + 1) : -1;
      if (n === 0x2f) return true;
      if (n === 0x2e /* . */) {
        // `/.` or `/..` followed by `/`, `?`, `;` or the end.
        let j = i + 2;
        if (j < end && src.charCodeAt(j) === 0x2e) j++;
        if (j === end) return true;
        const after = src.charCodeAt(j);
        if (after === 0x2f || after === 0x3f || after === 0x3b) return true;
      }
    } else if (c === 0x25 /* % */ || c === 0x5c /* \ */) return true;
    else if (c === 0x3f /* ? */) return false;
  }
  return false;
}

/**
 * The normal form of the path `src[start..end)` (starting with `/`, without the query), or the problem
 * that makes it a 400. Called only when {@link pathNeedsNormalising} said so.
 */
export function normalisePath(src: string, start: number, end: number): string | PathProblem {
  let out = '';
  let i = start + 1;
  for (;;) {
    let segEnd = src.indexOf('/', i);
    if (segEnd === -1 || segEnd > end) segEnd = end;
    const last = segEnd === end;
    const segment = decodeSegment(src, i, segEnd);
    if (segment === null) return 'invalid percent-encoding in path';
    if (segment === '..') {
      if (out === '') return 'path goes above the root';
      out = out.slice(0, out.lastIndexOf('/'));
      if (last) return out + '/';
    } else if (segment === '' || segment === '.') {
      if (last) return out + '/';
    } else {
      if (hiddenDotSegment(segment))
        return 'dot-segment next to an encoded slash, a backslash or a semicolon';
      out += '/' + segment;
      if (last) return out;
    }
    i = segEnd + 1;
  }
}

/**
 * `src[start..end)` with escapes of unreserved characters decoded and the others' hex upper-cased, or
 * null for an invalid escape.
 */
function decodeSegment(src: string, start: number, end: number): string | null {
  let pct = src.indexOf('%', start);
  if (pct === -1 || pct >= end) return src.slice(start, end);
  let out = '';
  let from = start;
  while (pct !== -1 && pct < end) {
    const hi = pct + 2 < end ? HEX[src.charCodeAt(pct + 1)] : undefined;
    const lo = pct + 2 < end ? HEX[src.charCodeAt(pct + 2)] : undefined;
    if (hi === undefined || lo === undefined || hi < 0 || lo < 0) return null;
    const byte = hi * 16 + lo;
    out += src.slice(from, pct);
    out +=
      byte < 0x80 && UNRESERVED[byte] === 1
        ? String.fromCharCode(byte)
        : '%' + UPPER_HEX[hi]! + UPPER_HEX[lo]!;
    from = pct + 3;
    pct = src.indexOf('%', from);
  }
  return out + src.slice(from, end);
}

/**
 * Whether a segment holds a `.` or `..` between separators a backend might honour though we do not:
 * `%2F`, `%5C` (upper-cased by `decodeSegment`) or a raw `\`; or before a `;`, since servlet containers
 * cut path parameters off a segment before resolving it (`/api/..;/manager` is `/manager` to Tomcat).
 */
function hiddenDotSegment(segment: string): boolean {
  if (segment.indexOf('.') === -1) return false;
  const parts = segment.replace(/%2F|%5C/g, '\\').split('\\');
  if (parts.length === 1 && segment.indexOf(';') === -1) return false;
  for (const part of parts) {
    // Only what comes before a `;` names the segment; the parameters after it are never resolved.
    const semi = part.indexOf(';');
    const name = semi === -1 ? part : part.slice(0, semi);
    if (name === '.' || name === '..') return true;
  }
  return false;
}
