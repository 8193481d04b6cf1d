/**
 * Answers a body encoder changed on their way out (the `compress` plugin: `res.setBodyEncoder`, which sits
 * below the relay): the client got a Content-Encoding, `Vary: Accept-Encoding` and a weak ETag the backend
 * never sent. Storing the backend's bytes would make every later hit go out unencoded (the encoder never
 * sees a pre-built hit), so the cache stores what was sent instead: the encoded bytes as captured on the
 * wire, with the fields that say so, under a key that varies on Accept-Encoding like any other Vary. Each
 * variant is then encoded once, by its miss, and its hits cost what plain hits cost.
 */
import type { HeaderList, HeaderValue, Response } from '../http/types.ts';
import { parseVary } from './vary.ts';

type Fields = ReadonlyArray<readonly [string, HeaderValue]>;

/** What the encoder did to a relayed answer, or null when it left the answer alone. */
export interface EncoderEdits {
  /** The Content-Encoding it chose, or null (the identity answer of a response that could be encoded). */
  coding: string | null;
  /** The answer's Vary as sent (names Accept-Encoding). */
  vary: string;
  /** The answer's ETag as sent (weak when encoded), or undefined. */
  etag: string | undefined;
}

function text(value: HeaderValue | undefined): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'object' ? value.join(', ') : String(value);
}

/**
 * The encoder's edits to `res` relative to the backend's head, or null: the answer varies on
 * Accept-Encoding only because this server made it so (the backend's own Vary does not name it).
 */
export function encoderEdits(res: Response, backend: HeaderList): EncoderEdits | null {
  const vary = text(res.getHeader('vary'));
  if (vary === undefined) return null;
  const ours = parseVary(vary);
  if (ours === '*' || ours === null || !ours.includes('accept-encoding')) return null;
  const theirs = parseVary(backend.getJoined('vary'));
  if (theirs === '*' || theirs?.includes('accept-encoding')) return null;
  const coding = backend.has('content-encoding') ? null : (text(res.getHeader('content-encoding')) ?? null);
  return { coding, vary, etag: text(res.getHeader('etag')) };
}

/** The backend's fields with the encoder's edits: what the client was sent (framing aside). */
export function editedFields(fields: Fields, edits: EncoderEdits): Array<readonly [string, HeaderValue]> {
  const out: Array<readonly [string, HeaderValue]> = [];
  for (const field of fields) {
    const lower = field[0].toLowerCase();
    if (lower === 'vary' || lower === 'etag') continue;
    // A range of the encoded bytes is not what a client asking for a range wants (the encoder drops it).
    if (edits.coding !== null && lower === 'accept-ranges') continue;
    out.push(field);
  }
  out.push(['Vary', edits.vary]);
  if (edits.etag !== undefined) out.push(['ETag', edits.etag]);
  if (edits.coding !== null) out.push(['Content-Encoding', edits.coding]);
  return out;
}

/** `names` (a plan's Vary list, sorted) with accept-encoding added. */
export function withAcceptEncoding(names: readonly string[] | null): string[] {
  if (names === null) return ['accept-encoding'];
  if (names.includes('accept-encoding')) return [...names];
  return [...names, 'accept-encoding'].sort();
}
