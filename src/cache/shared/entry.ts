/**
 * A worker's view of one live entry of the shared store: what the hit path needs that is not bytes
 * (status, fields, validators, file identity), decoded once per worker from the entry's metadata and
 * kept until the slot's generation changes. The bytes stay in shared memory:
 *
 * - a response of less than `PIN_MIN` body bytes is copied once into a buffer of this worker (checked
 *   against the slot's generation after the copy), which then serves every hit while the generation holds,
 *   its `Date` rewritten in place once per second: no pin, nothing to release, each worker its own Date.
 *   Copying per hit measured 5x the CPU of a local hit (allocation, `Buffer.copy` from shared memory, GC);
 *   the copies are bounded per worker (`SharedStoreClient`'s local budget);
 * - a larger body is written straight from shared memory, as a view made once per worker and entry: the
 *   slot is pinned in this worker's row before the generation check and released when the socket is done
 *   with the bytes (`sendPrebuilt`'s `onReleased`), so the owner never reuses an extent a write still reads.
 */
import { httpDateBuffer } from '../../http/date.ts';
import { serializeHead } from '../../http/semantics/head.ts';
import type { FileSource, Response } from '../../http/types.ts';
import {
  fieldValue,
  headOnDemand,
  NOT_MODIFIED_FIELDS,
  type ServableEntry,
  type StoredField,
} from '../entry.ts';
import { copyShared, type SharedArena } from './arena.ts';
import {
  D_CHECK_AT,
  D_EXPIRES_AT,
  D_LAST_MODIFIED,
  D_SIZE,
  D_START,
  D_STORED_AT,
  E_BODY_LEN,
  E_DATE_OFFSET,
  E_F64,
  E_GEN,
  E_HEAD_LEN,
  E_HITS,
  E_INT32,
  E_KEY_LEN,
  E_META_LEN,
} from './layout.ts';
import type { SharedMeta } from './owner.ts';

/** Bodies at least this large are written from shared memory under a pin instead of being copied. */
export const PIN_MIN = 16 * 1024;

/** The record-like part of an entry (as `CacheEntry.record`). */
export interface SharedRecord extends SharedMeta {
  readonly storedAt: number;
  readonly expiresAt: number;
}

/** One live entry as one worker sees it; valid while the slot's generation is `gen`. */
export class SharedEntry implements ServableEntry {
  readonly arena: SharedArena;
  readonly slot: number;
  readonly gen: number;
  readonly record: SharedRecord;
  readonly headLength: number;
  readonly bodyLength: number;
  readonly etag: string | undefined;
  readonly lastModifiedMs: number | undefined;
  readonly expiresAt: number;
  private readonly headAt: number;
  private readonly dateOffset: number;
  /** A view of the body in shared memory (pinned writes only), made on first use. */
  private bodyView: Buffer | null = null;
  private readonly pinIndex: number;
  private readonly release: () => void;
  private notModified: Buffer | null = null;
  /** This worker's copy of a small answer (head + body), or of a large one's head, made on first use. */
  private full: Buffer | null = null;
  /** The shared Date buffer last copied into `full`, and the first ms of the next second to check. */
  private dateSource: Buffer | null = null;
  private dateUntil = 0;
  /** Index of the generation word (the hit path's one check). */
  readonly genIndex: number;
  /**
   * A producer's own decoded view of the entry (a proxied response's RFC 9111 state), made by that
   * producer on first use and kept as long as this entry: one decode per worker and entry.
   */
  producerView: unknown = null;

  /** Decode the entry in `slot`; null when it is not live as `gen` (anymore). */
  static read(arena: SharedArena, slot: number, gen: number, worker: number): SharedEntry | null {
    const e = slot * E_INT32;
    const f = slot * E_F64;
    const ent = arena.ent;
    const entF = arena.entF;
    // Everything the entry keeps about the slot is read here, before the generation check: a field read
    // after it could be the next entry's (the owner reuses the slot), under this entry's generation.
    const start = entF[f + D_START]!;
    const headAt = start + ent[e + E_KEY_LEN]!;
    const headLength = ent[e + E_HEAD_LEN]!;
    const bodyLength = ent[e + E_BODY_LEN]!;
    const dateOffset = ent[e + E_DATE_OFFSET]!;
    const metaAt = headAt + headLength + bodyLength;
    const metaEnd = metaAt + ent[e + E_META_LEN]!;
    if (metaEnd > arena.data.length) return null;
    const text = arena.data.toString('utf8', metaAt, metaEnd);
    const storedAt = entF[f + D_STORED_AT]!;
    const expiresAt = entF[f + D_EXPIRES_AT]!;
    const lastModified = entF[f + D_LAST_MODIFIED]!;
    if (Atomics.load(ent, e + E_GEN) !== gen) return null;
    let meta: SharedMeta;
    try {
      meta = JSON.parse(text) as SharedMeta;
    } catch {
      return null;
    }
    const record = { ...meta, storedAt, expiresAt };
    return new SharedEntry(
      arena,
      slot,
      gen,
      worker,
      record,
      lastModified,
      headAt,
      headLength,
      bodyLength,
      dateOffset,
    );
  }

  private constructor(
    arena: SharedArena,
    slot: number,
    gen: number,
    worker: number,
    record: SharedRecord,
    lastModified: number,
    headAt: number,
    headLength: number,
    bodyLength: number,
    dateOffset: number,
  ) {
    const e = slot * E_INT32;
    this.arena = arena;
    this.slot = slot;
    this.gen = gen;
    this.record = record;
    this.headLength = headLength;
    this.bodyLength = bodyLength;
    this.dateOffset = dateOffset;
    this.headAt = headAt;
    this.etag = fieldValue(record.fields, 'etag');
    this.lastModifiedMs = Number.isNaN(lastModified) ? undefined : lastModified;
    this.expiresAt = record.expiresAt;
    const pins = arena.pins;
    const index = worker * arena.entries + slot;
    this.pinIndex = index;
    this.genIndex = e + E_GEN;
    this.release = () => {
      Atomics.sub(pins, index, 1);
    };
  }

  /** Still the live entry of its slot. */
  valid(): boolean {
    return Atomics.load(this.arena.ent, this.slot * E_INT32 + E_GEN) === this.gen;
  }

  /** Next comparison with the file on disk (shared: one worker's check serves all). */
  get checkAt(): number {
    return this.arena.entF[this.slot * E_F64 + D_CHECK_AT]!;
  }

  set checkAt(value: number) {
    this.arena.entF[this.slot * E_F64 + D_CHECK_AT] = value;
  }

  /** A proxy route takes this path on some host (see `SharedMeta.routed`). */
  get routed(): boolean {
    return this.record.routed;
  }

  /** Bytes the entry's extent takes (its charge to the store's capacity). */
  get charge(): number {
    return this.arena.entF[this.slot * E_F64 + D_SIZE]!;
  }

  /** Hits counted so far (by the owner, from the workers' hit rings). */
  get hits(): number {
    return Atomics.load(this.arena.ent, this.slot * E_INT32 + E_HITS);
  }

  /**
   * Send the whole answer (GET, or HEAD with `isGet` false) with the current Date. False when the entry
   * left meanwhile: nothing was sent, the caller treats the request as a miss.
   */
  send(res: Response, isGet: boolean, now: number): boolean {
    const full = this.ownCopy();
    if (full === null) return false;
    if (now >= this.dateUntil && this.dateOffset >= 0) {
      const date = httpDateBuffer();
      if (date !== this.dateSource) {
        date.copy(full, this.dateOffset);
        this.dateSource = date;
      }
      this.dateUntil = now - (now % 1000) + 1000;
    }
    const small = this.bodyLength < PIN_MIN;
    if (small || !isGet) {
      res.sendPrebuilt(isGet || !small ? full : full.subarray(0, this.headLength));
      return true;
    }
    return this.sendPinned(res, full);
  }

  /**
   * This worker's copy of the answer: head and body when the body is below {@link PIN_MIN}, else the head
   * alone (the body is then written from shared memory by `sendPinned`). Made once, checked against the
   * generation; null when the entry left meanwhile. The worker may rewrite slots in it (Date, Age).
   */
  ownCopy(): Buffer | null {
    let full = this.full;
    if (full !== null) return full;
    const length = this.bodyLength < PIN_MIN ? this.headLength + this.bodyLength : this.headLength;
    full = Buffer.allocUnsafeSlow(length);
    copyShared(this.arena.data.subarray(this.headAt, this.headAt + length), full, 0);
    if (!this.valid()) return null;
    this.full = full;
    return full;
  }

  /** Whether the body is written from shared memory (`sendPinned`) rather than from `ownCopy`. */
  get pinsBody(): boolean {
    return this.bodyLength >= PIN_MIN;
  }

  /**
   * Send `head` (this worker's bytes) and the body straight from shared memory, pinned until the socket
   * is done with it. False when the entry left meanwhile: nothing was sent.
   */
  sendPinned(res: Response, head: Buffer): boolean {
    const arena = this.arena;
    Atomics.add(arena.pins, this.pinIndex, 1);
    if (!this.valid()) {
      Atomics.sub(arena.pins, this.pinIndex, 1);
      return false;
    }
    res.sendPrebuilt(head, this.sharedBody(), this.release, this.headLength);
    return true;
  }

  /**
   * A view of the body in shared memory (made once). Only valid to read under a pin and a generation
   * check: `sendPinned` and `copyBody` read it that way.
   */
  sharedBody(): Buffer {
    this.bodyView ??= Buffer.from(
      this.arena.sab,
      this.arena.layout.data + this.headAt + this.headLength,
      this.bodyLength,
    );
    return this.bodyView;
  }

  /** Bytes this worker holds for the entry (its local copy), for the client's budget. */
  get localBytes(): number {
    return this.full === null ? 0 : this.full.length;
  }

  /** A copy of the body, or null when the entry left meanwhile (rare paths: ranges, HTTP/1.0). */
  copyBody(): Buffer | null {
    const arena = this.arena;
    // Pinned while copying: once the pin is seen with a valid generation, the extent cannot be reused.
    Atomics.add(arena.pins, this.pinIndex, 1);
    try {
      if (!this.valid()) return null;
      const from = this.headAt + this.headLength;
      const out = Buffer.allocUnsafe(this.bodyLength);
      copyShared(arena.data.subarray(from, from + this.bodyLength), out, 0);
      return out;
    } finally {
      Atomics.sub(arena.pins, this.pinIndex, 1);
    }
  }

  /** The 304 answer (RFC 9110 §15.4.5), built on first use, with the current Date. */
  notModifiedResponse(): Buffer {
    const fields = this.record.fields.filter(([name]) => NOT_MODIFIED_FIELDS.has(name.toLowerCase()));
    const date = httpDateBuffer();
    if (this.notModified === null) {
      const { text } = serializeHead(304, '', fields, null, null, date.toString('latin1'));
      this.notModified = Buffer.from(text, 'latin1');
    }
    // A fresh copy per answer: the cached one is shared by every request of this worker.
    const out = Buffer.from(this.notModified);
    const at = out.indexOf('\r\nDate: ') + 8;
    date.copy(out, at);
    return out;
  }

  /** A head built on demand (rare paths), as `CacheEntry.buildHead`. */
  buildHead(
    status: number,
    fields: readonly StoredField[],
    contentLength: number | null,
    connection: 'close' | 'keep-alive' | null,
  ): Buffer {
    return headOnDemand(this.record, status, fields, contentLength, connection);
  }

  /** The file the body came from, for revalidation. */
  get file(): FileSource | null {
    return this.record.file;
  }
}
