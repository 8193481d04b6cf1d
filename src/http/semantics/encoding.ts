/**
 * Content-coding negotiation from `Accept-Encoding` (RFC 9110 §12.5.3): which of the codings Tamarin
 * produces (zstd, br, gzip) a request accepts, best first. Shared by the static plugin (precompressed
 * siblings), the `compress` plugin (on-the-fly encoding) and the content cache, which keys its entries by
 * the same ordered list so that one key always means one representation.
 */

/** The content codings Tamarin serves, with the suffix of a precompressed sibling file. */
export const CODING_SUFFIXES = { zstd: '.zst', br: '.br', gzip: '.gz' } as const;

export type Coding = keyof typeof CODING_SUFFIXES;

/** Every coding, in the default server preference (used for ties between equal q-values). */
export const DEFAULT_PREFERENCE: readonly Coding[] = ['zstd', 'br', 'gzip'];

/** The codings one request accepts, best first, and the cache-key suffix that names that list. */
export interface Accepted {
  readonly order: readonly Coding[];
  /** `''` when nothing is accepted, else `' ' + order.join(',')`: one constant string per class. */
  readonly suffix: string;
}

const NONE: Accepted = { order: [], suffix: '' };

/** q-value of one list member's parameters (`;q=0.5` → 0.5); 1 when absent, 0 when malformed. */
function qValue(params: string): number {
  const match = /;\s*q\s*=\s*([^;\s]*)/i.exec(params);
  if (!match) return 1;
  const q = Number(match[1]);
  return q >= 0 && q <= 1 ? q : 0;
}

/** Members looked at per header: a longer (absurd) list is judged by its first ones. */
const MAX_MEMBERS = 64;

function parse(header: string, preference: readonly Coding[]): Accepted {
  let zstd = -1;
  let br = -1;
  let gzip = -1;
  let star = -1;
  const members = header.length > 4096 ? header.slice(0, 4096).split(',') : header.split(',');
  for (let i = 0; i < members.length && i < MAX_MEMBERS; i++) {
    const member = members[i]!;
    const semi = member.indexOf(';');
    const coding = (semi < 0 ? member : member.slice(0, semi)).trim().toLowerCase();
    const q = semi < 0 ? 1 : qValue(member.slice(semi));
    // A coding named twice keeps its first q (as most servers do); `x-gzip` is gzip (§12.5.3).
    if (coding === 'zstd') zstd = zstd < 0 ? q : zstd;
    else if (coding === 'br') br = br < 0 ? q : br;
    else if (coding === 'gzip' || coding === 'x-gzip') gzip = gzip < 0 ? q : gzip;
    else if (coding === '*') star = star < 0 ? q : star;
  }
  // `*` covers codings not listed by name; an explicit q=0 refuses one.
  const q: Record<Coding, number> = {
    zstd: zstd < 0 ? star : zstd,
    br: br < 0 ? star : br,
    gzip: gzip < 0 ? star : gzip,
  };
  // Highest q first; equal q in the server's preference order (a stable sort keeps it).
  const order = preference.filter((c) => q[c] > 0).sort((a, b) => q[b] - q[a]);
  return order.length === 0 ? NONE : { order, suffix: ' ' + order.join(',') };
}

/**
 * Negotiates for one server preference order, memoised per header value (browsers send a handful of
 * distinct strings, so a request costs one Map lookup).
 */
export class Negotiator {
  readonly preference: readonly Coding[];
  private readonly memo = new Map<string, Accepted>();

  constructor(preference: readonly Coding[] = DEFAULT_PREFERENCE) {
    this.preference = preference;
  }

  accepted(acceptEncoding: string | undefined): Accepted {
    if (acceptEncoding === undefined || acceptEncoding.length === 0) return NONE;
    let result = this.memo.get(acceptEncoding);
    if (result === undefined) {
      result = parse(acceptEncoding, this.preference);
      // Only short values are remembered: a client cannot fill the memo with long junk.
      if (acceptEncoding.length <= 256) {
        if (this.memo.size >= 256) this.memo.clear();
        this.memo.set(acceptEncoding, result);
      }
    }
    return result;
  }
}

const defaultNegotiator = new Negotiator();

/** The codings a request accepts in the default preference, best first. */
export function acceptedEncodings(acceptEncoding: string | undefined): readonly Coding[] {
  return defaultNegotiator.accepted(acceptEncoding).order;
}
