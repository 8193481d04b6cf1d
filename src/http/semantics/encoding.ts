/**
 * Choosing a precompressed sibling (`file.br`, `file.gz`) from `Accept-Encoding` (RFC 9110 §12.5.3).
 * Exported for the cache plugin, which keys its entries by the same representation variant.
 */

/** Content codings Tamarin serves from siblings, most preferred first, with the sibling's suffix. */
export const SIBLING_ENCODINGS = [
  { encoding: 'br', suffix: '.br' },
  { encoding: 'gzip', suffix: '.gz' },
] as const;

export type SiblingEncoding = (typeof SIBLING_ENCODINGS)[number]['encoding'];

const NONE: readonly SiblingEncoding[] = [];
const memo = new Map<string, readonly SiblingEncoding[]>();

/** q-value of one list member's parameters (`;q=0.5` → 0.5); 1 when absent, 0 when malformed. */
function qValue(params: string): number {
  const match = /;\s*q\s*=\s*([^;\s]*)/i.exec(params);
  if (!match) return 1;
  const q = Number(match[1]);
  return q >= 0 && q <= 1 ? q : 0;
}

function parse(header: string): readonly SiblingEncoding[] {
  let br = -1;
  let gzip = -1;
  let star = -1;
  for (const member of header.split(',')) {
    const semi = member.indexOf(';');
    const coding = (semi < 0 ? member : member.slice(0, semi)).trim().toLowerCase();
    const q = semi < 0 ? 1 : qValue(member.slice(semi));
    if (coding === 'br') br = q;
    else if (coding === 'gzip' || coding === 'x-gzip') gzip = q;
    else if (coding === '*') star = q;
  }
  // `*` covers codings not listed by name (§12.5.3); an explicit q=0 refuses one.
  if (br < 0) br = star;
  if (gzip < 0) gzip = star;
  const out: SiblingEncoding[] = [];
  // br first on a tie: it is the smaller file.
  if (br > 0 && br >= gzip) out.push('br');
  if (gzip > 0) out.push('gzip');
  if (br > 0 && br < gzip) out.push('br');
  return out;
}

/**
 * The sibling encodings a request accepts, most preferred first (`br` before `gzip` unless q-values say
 * otherwise). Memoised per header value: browsers send a handful of distinct strings.
 */
export function acceptedEncodings(acceptEncoding: string | undefined): readonly SiblingEncoding[] {
  if (acceptEncoding === undefined || acceptEncoding.length === 0) return NONE;
  let result = memo.get(acceptEncoding);
  if (result === undefined) {
    result = parse(acceptEncoding);
    if (memo.size >= 256) memo.clear();
    memo.set(acceptEncoding, result);
  }
  return result;
}

/** File suffix of a sibling encoding (`br` → `.br`). */
export function siblingSuffix(encoding: SiblingEncoding): string {
  return encoding === 'br' ? '.br' : '.gz';
}
