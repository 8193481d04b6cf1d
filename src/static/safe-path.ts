/**
 * Turning a request path into a path inside a document root, safely. The rules, in the order applied:
 *
 * - the path is split on `/` *before* decoding, so an encoded `%2f` can never become a separator;
 * - each segment is percent-decoded exactly once (`%252e` stays the literal `%2e`); an invalid escape or
 *   invalid UTF-8 (including overlong forms such as `%c0%ae`) is a 400;
 * - a decoded segment containing `/`, `\`, NUL or another control character is a 400 (no encoded
 *   separators, no Windows-style separators, no C-string truncation);
 * - `.` and empty segments are dropped (`/a/./b`, `//a`); a `..` segment is a 400, never resolved: a
 *   static server has no business walking up, and refusing beats normalising a path someone crafted;
 * - the result is a list of plain names, joined under the root by the caller, so an absolute path
 *   (`/etc/passwd` after decoding `%2fetc...`) cannot escape either.
 *
 * Dotfiles and symlinks are the caller's policy (they depend on options and on the file system).
 */

/** A request path split into safe segments. */
export interface SafePath {
  /** Decoded segments, none empty, `.` or `..`, none containing a separator. */
  segments: string[];
  /** The same segments as they arrived (still percent-encoded), for building redirects. */
  rawSegments: string[];
  /** Whether the path ended in `/` (a directory was asked for). */
  trailingSlash: boolean;
}

/** A path that must be refused, with a short reason for the 400 body. */
export interface UnsafePath {
  error: string;
}

/** True when a decoded segment contains a separator or a control character. */
function hasForbiddenChar(segment: string): boolean {
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0x2f /* / */ || c === 0x5c /* \ */) return true;
  }
  return false;
}

/**
 * Splits and decodes a request path (origin-form, still percent-encoded, without the query).
 * @returns the safe segments, or `{ error }` for a path that must be answered with 400
 */
export function parseRequestPath(path: string): SafePath | UnsafePath {
  if (path.charCodeAt(0) !== 0x2f) return { error: 'path must start with "/"' };
  // A raw backslash is refused outright: some clients and file systems treat it as a separator.
  if (path.includes('\\')) return { error: 'backslash in path' };
  const raw = path.split('/');
  const segments: string[] = [];
  const rawSegments: string[] = [];
  for (let i = 1; i < raw.length; i++) {
    const rawSegment = raw[i]!;
    let segment = rawSegment;
    if (rawSegment.includes('%')) {
      try {
        segment = decodeURIComponent(rawSegment);
      } catch {
        return { error: 'invalid percent-encoding in path' };
      }
    }
    if (segment.length === 0 || segment === '.') continue;
    if (segment === '..') return { error: 'path segment ".." is not allowed' };
    if (hasForbiddenChar(segment)) return { error: 'encoded separator or control character in path' };
    segments.push(segment);
    rawSegments.push(rawSegment);
  }
  return {
    segments,
    rawSegments,
    trailingSlash: path.length > 1 && path.charCodeAt(path.length - 1) === 0x2f,
  };
}

/**
 * Whether a path has a segment starting with `.` that the dotfile policy hides. `.well-known` (RFC 8615:
 * ACME challenges, security.txt) is not hidden: refusing it would break certificate issuance.
 */
export function hasHiddenSegment(segments: readonly string[]): boolean {
  for (const segment of segments) {
    if (segment.charCodeAt(0) === 0x2e && segment !== '.well-known') return true;
  }
  return false;
}
