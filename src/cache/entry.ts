/**
 * A cached response, pre-serialised: the bytes a hit writes are built once, when the entry is stored.
 *
 * A small body (below {@link SEPARATE_BODY_MIN}) lives with status line + header fields in `full`, one
 * allocation written with one `write`; the HEAD answer is a view of its head, 206 slices views of its body.
 * A large body is kept apart, as the producer's own buffer (no copy when storing, and no freed producer
 * buffer leaving allocator slack: RSS stays near the charged bytes); head and body then leave in one
 * `writev` through `sendPrebuilt(head, body)`. Proxied entries (`keepDate`) always use the single buffer. The `Date` field sits at a known offset and is overwritten
 * (29 bytes, no allocation) the first time the entry is served in a new second. A 304 is built on first use
 * and kept. Everything else (206 heads, answers that must carry `Connection`) is built per request: rare.
 *
 * The head is laid out exactly as the engine's writer lays out a head (src/http/response.ts): status line,
 * the producer's fields in the order it set them, then `Date`, `Content-Length`, `Connection` as needed,
 * so a hit is byte-identical to the uncached answer except for the time in `Date`.
 */
import { httpDateBuffer } from '../http/date.ts';
import { type HeadField, serializeHead } from '../http/semantics/head.ts';
import type { FileSource, HeaderValue, Response } from '../http/types.ts';

/** A header field as stored: name as the producer spelled it, value as a string. */
export type StoredField = HeadField;

/**
 * Bytes charged per entry on top of its head, body, key and header strings: the entry object, its
 * ArrayBuffer and backing-store bookkeeping, the store's and the policy's slots. bench/cache-memory.ts
 * measures ~1.1-1.3 KB of JS heap per entry in all (strings included).
 */
export const ENTRY_OVERHEAD = 1024;

/**
 * Bodies at least this large are kept in their own buffer instead of being copied after the head: the copy
 * costs time and, once the producer's buffer is freed, allocator slack; a second buffer in one `writev`
 * costs nothing measurable at this size. Below it, one buffer and one `write` per hit is what counts.
 */
export const SEPARATE_BODY_MIN = 16 * 1024;

/** What a producer hands the store: plain data, enough to rebuild the entry anywhere (a second tier). */
export interface EntryRecord {
  /** Store key (host + path + representation variant for static files). */
  readonly key: string;
  /** Decoded, normalised request path: what purge-by-path and purge-by-prefix match. */
  readonly path: string;
  readonly host: string;
  readonly status: number;
  /** Reason phrase; `''` for the standard one. */
  readonly reason: string;
  /** The producer's header fields in order (the engine adds Date/Content-Length/Connection itself). */
  readonly fields: readonly StoredField[];
  readonly body: Buffer;
  /** The file the body came from, for revalidation against disk and warm restart; `null` for proxied. */
  readonly file: FileSource | null;
  /** Epoch ms when the response was produced. */
  readonly storedAt: number;
  /** Epoch ms after which the entry must not be served; `Infinity` for none. */
  readonly expiresAt: number;
  /** Entries removed together by `CacheStore.invalidate` (a proxied URL and its variants). */
  readonly group?: string;
  /** Labels `CacheStore.purgeTags` finds the entry by. */
  readonly tags?: readonly string[];
  /** The producer's own metadata, opaque to the store (JSON: a proxied response's RFC 9111 state). */
  readonly extra?: unknown;
}

/**
 * An entry as a store hands it out and the hit path serves it, wherever its bytes live: a `CacheEntry` of
 * a worker's `MemoryStore`, or a `SharedEntry` of the shared arena (bytes copied once into the worker, or
 * pinned while written).
 */
export interface ServableEntry {
  /** The entry's description; `stamp`: the configuration it was stored under (shared store only). */
  readonly record: EntryMeta & { readonly stamp?: number };
  /** A proxy route matches the entry's path on some host (see `CacheEntry.routed`). */
  readonly routed: boolean;
  readonly bodyLength: number;
  /** Bytes charged to the store's capacity. */
  readonly charge: number;
  /** Hits served from it (the shared store counts them as its owner drains the workers' hit rings). */
  readonly hits: number;
  readonly etag: string | undefined;
  readonly lastModifiedMs: number | undefined;
  /**
   * With a file: the next comparison with it on disk. Without one (a proxied response): the time it turns
   * stale, which a soft purge (`CacheStore.markStale`, `purgeTags`) brings forward.
   */
  checkAt: number;
  /** The whole GET (or HEAD) answer with the current Date; false when the entry left (nothing sent). */
  send(res: Response, isGet: boolean, now: number): boolean;
  /** The body as a buffer the caller may keep; null when the entry left. */
  copyBody(): Buffer | null;
  notModifiedResponse(): Buffer;
  buildHead(
    status: number,
    fields: readonly StoredField[],
    contentLength: number | null,
    connection: 'close' | 'keep-alive' | null,
  ): Buffer;
}

/**
 * Flatten `res.headerEntries()` into stored fields as the engine writes them: an array value becomes
 * repeated field lines; `Transfer-Encoding` and `Connection` (framing and hop-by-hop, RFC 9110 §7.6.1) are
 * the engine's per response, and `Date` is always the cache's own slot.
 */
export function toStoredFields(entries: ReadonlyArray<readonly [string, HeaderValue]>): StoredField[] {
  const fields: StoredField[] = [];
  for (const [name, value] of entries) {
    const key = name.toLowerCase();
    if (key === 'transfer-encoding' || key === 'connection' || key === 'date') continue;
    if (typeof value === 'string') fields.push([name, value]);
    else if (typeof value === 'number') fields.push([name, String(value)]);
    else for (const item of value) fields.push([name, item]);
  }
  return fields;
}

/** First value of a (lower-case) field name among stored fields. */
export function fieldValue(fields: readonly StoredField[], lowerName: string): string | undefined {
  for (const [name, value] of fields) if (name.toLowerCase() === lowerName) return value;
  return undefined;
}

/**
 * Bytes already laid out for an entry (by another store: the shared arena), taken as they are instead of
 * serialising the record again. The head carries no Date slot (`keepDate`).
 */
export interface PrebuiltBytes {
  /** Head and body, or the head alone when `separateBody` is given. */
  readonly full: Buffer;
  readonly separateBody: Buffer | null;
  readonly headLength: number;
  readonly bodyLength: number;
  readonly charge: number;
}

/** An entry's description without its body (the body lives only inside the pre-built buffer). */
export type EntryMeta = Omit<EntryRecord, 'body'>;

/** A stored, pre-serialised response. One class, fields in a fixed order, so V8 keeps one shape. */
export class CacheEntry implements ServableEntry {
  readonly record: EntryMeta;
  /**
   * The GET answer: status line + head + body, or only status line + head when the body is kept apart
   * (`separateBody`); send it with `sendPrebuilt(full, separateBody)`.
   */
  readonly full: Buffer;
  /** The body when kept in its own buffer (large bodies), else null (it is inside `full`). */
  readonly separateBody: Buffer | null;
  readonly headLength: number;
  readonly bodyLength: number;
  /** View of `full`'s head (the HEAD answer), made on the first HEAD: most entries never need one. */
  private headView: Buffer | null = null;
  readonly dateOffset: number;
  /** The shared Date buffer last copied into `full`; a different object means a new second. */
  dateSource: Buffer | null = null;
  /** First millisecond of the next second after the Date slot was last checked. */
  private dateUntil = 0;
  readonly etag: string | undefined;
  /** Last-Modified in epoch ms (for preconditions and If-Range), from the file or the field. */
  readonly lastModifiedMs: number | undefined;
  readonly expiresAt: number;
  /** Epoch ms when the file should next be compared with disk (see freshness.ts). */
  checkAt = 0;
  /** Hits served from this entry. */
  hits = 0;
  /**
   * A proxy route matches this entry's path on some host: the entry may be served only to a request the
   * proxy does not claim (a static copy must never answer for another host's proxied route).
   */
  routed = false;
  /** Bytes charged to the store's capacity. */
  readonly charge: number;
  /** The 304 answer, built on first use. */
  private notModified: Buffer | null = null;
  private notModifiedDateOffset = 0;
  private notModifiedDateSource: Buffer | null = null;

  /**
   * @param keepDate the fields carry their own `Date` (a proxied response: the origin's Date is kept and
   *   only `Age` changes, RFC 9111 §5.1): no Date slot is spliced. @default false
   */
  constructor(record: EntryRecord, keepDate = false, prebuilt: PrebuiltBytes | null = null) {
    // The producer's record (and its body buffer) is not kept: the body is copied into `full` below.
    const { body, ...meta } = record;
    this.record = meta;
    this.etag = fieldValue(record.fields, 'etag');
    const lastModified = fieldValue(record.fields, 'last-modified');
    const parsed = lastModified === undefined ? Number.NaN : Date.parse(lastModified);
    this.lastModifiedMs = record.file ? record.file.mtimeMs : Number.isNaN(parsed) ? undefined : parsed;
    this.expiresAt = record.expiresAt;
    if (prebuilt !== null) {
      this.full = prebuilt.full;
      this.separateBody = prebuilt.separateBody;
      this.headLength = prebuilt.headLength;
      this.bodyLength = prebuilt.bodyLength;
      this.dateOffset = -1;
      this.dateUntil = Number.POSITIVE_INFINITY;
      this.charge = prebuilt.charge;
      return;
    }
    const date = keepDate ? null : httpDateBuffer();
    const { text, dateOffset } = serializeHead(
      record.status,
      record.reason,
      record.fields,
      body.length,
      null,
      date === null ? null : date.toString('latin1'),
    );
    const headLength = text.length;
    // A large body is kept as is when it owns its whole ArrayBuffer (nothing hidden around it is pinned);
    // a view into a bigger allocation (or a pooled slice) is copied as small bodies are.
    const separate =
      !keepDate &&
      body.length >= SEPARATE_BODY_MIN &&
      body.byteOffset === 0 &&
      body.byteLength === body.buffer.byteLength;
    // allocUnsafeSlow: never a slice of Node's shared 8 KiB pool, which a small entry would pin for ever.
    const full = Buffer.allocUnsafeSlow(headLength + (separate ? 0 : body.length));
    full.write(text, 0, 'latin1');
    if (!separate) body.copy(full, headLength);
    this.full = full;
    this.separateBody = separate ? body : null;
    this.headLength = headLength;
    this.bodyLength = body.length;
    this.dateOffset = dateOffset;
    this.dateSource = date;
    // No Date slot: fullResponse never needs to look at the clock.
    if (date === null) this.dateUntil = Number.POSITIVE_INFINITY;
    let fieldBytes = 0;
    for (const [name, value] of record.fields) fieldBytes += name.length + value.length + 16;
    this.charge =
      headLength + body.length + fieldBytes + record.key.length * 2 + record.path.length + ENTRY_OVERHEAD;
  }

  /**
   * The GET answer with the current Date. `now` (the caller's clock read) decides whether the second may
   * have changed, so a hit in the same second reads no clock and touches no Date bytes.
   */
  fullResponse(now: number): Buffer {
    if (now >= this.dateUntil) {
      const date = httpDateBuffer();
      if (date !== this.dateSource) {
        date.copy(this.full, this.dateOffset);
        this.dateSource = date;
      }
      this.dateUntil = now - (now % 1000) + 1000;
    }
    return this.full;
  }

  /** The HEAD answer (a view of `full`, sharing its Date slot). */
  headResponse(now: number): Buffer {
    this.fullResponse(now);
    if (this.headView === null)
      this.headView = this.separateBody === null ? this.full.subarray(0, this.headLength) : this.full;
    return this.headView;
  }

  /** The whole GET (or HEAD) answer with the current Date, one `sendPrebuilt` (see `ServableEntry`). */
  send(res: Response, isGet: boolean, now: number): boolean {
    if (isGet) res.sendPrebuilt(this.fullResponse(now), this.separateBody, null, this.headLength);
    else res.sendPrebuilt(this.headResponse(now));
    return true;
  }

  /** The body (never gone: this worker's own). */
  copyBody(): Buffer {
    return this.body;
  }

  /** The body (a view for small entries, which allocates: for the rare paths, not the hit path). */
  get body(): Buffer {
    return this.separateBody ?? this.full.subarray(this.headLength);
  }

  /** The entry as plain data, e.g. for a second tier. */
  toRecord(): EntryRecord {
    return { ...this.record, body: this.body };
  }

  /**
   * The 304 answer (RFC 9110 §15.4.5): the fields a 200 would carry that describe the representation's
   * validators and caching (the same set the static plugin sends), no body and no Content-Length.
   */
  notModifiedResponse(): Buffer {
    const date = httpDateBuffer();
    if (this.notModified === null) {
      const fields = this.record.fields.filter(([name]) => NOT_MODIFIED_FIELDS.has(name.toLowerCase()));
      const { text, dateOffset } = serializeHead(304, '', fields, null, null, date.toString('latin1'));
      this.notModified = Buffer.from(text, 'latin1');
      this.notModifiedDateOffset = dateOffset;
      this.notModifiedDateSource = date;
    } else if (date !== this.notModifiedDateSource) {
      date.copy(this.notModified, this.notModifiedDateOffset);
      this.notModifiedDateSource = date;
    }
    return this.notModified;
  }

  /**
   * The head of an answer built on demand, for the rare requests a pre-built buffer does not fit; its body
   * (if any) is sent after it as a separate buffer: `sendPrebuilt(head, body)`, so nothing is copied.
   */
  buildHead(
    status: number,
    fields: readonly StoredField[],
    contentLength: number | null,
    connection: 'close' | 'keep-alive' | null,
  ): Buffer {
    return headOnDemand(this.record, status, fields, contentLength, connection);
  }

  /** A whole answer built on demand, in one buffer (head and body copied together). */
  buildResponse(
    status: number,
    fields: readonly StoredField[],
    body: Buffer | null,
    contentLength: number | null,
    connection: 'close' | 'keep-alive' | null,
  ): Buffer {
    const head = this.buildHead(status, fields, contentLength, connection);
    return body === null || body.length === 0 ? head : Buffer.concat([head, body]);
  }
}

/**
 * The head of an answer built on demand (rare paths, either store): the stored reason phrase for the
 * stored status, the current Date.
 */
export function headOnDemand(
  stored: { readonly status: number; readonly reason: string },
  status: number,
  fields: readonly StoredField[],
  contentLength: number | null,
  connection: 'close' | 'keep-alive' | null,
): Buffer {
  const { text } = serializeHead(
    status,
    status === stored.status ? stored.reason : '',
    fields,
    contentLength,
    connection,
    httpDateBuffer().toString('latin1'),
  );
  return Buffer.from(text, 'latin1');
}

/** Fields a 304 repeats from the 200 (RFC 9110 §15.4.5), lower-case. Overridden to match the producer. */
export const NOT_MODIFIED_FIELDS = new Set([
  'cache-control',
  'content-location',
  'etag',
  'expires',
  'last-modified',
  'vary',
]);
