/**
 * A stored proxied response: a `CacheEntry` (one pre-serialised buffer, in the shared store, charged to
 * the one memory budget) plus what RFC 9111 needs to reuse it: the timing of §4.2.3, its freshness
 * lifetime, its response directives and the Vary names that selected it.
 *
 * The buffer keeps the origin's `Date` (RFC 9110 §6.6.1) and holds a fixed-width `Age` slot (the value
 * right-aligned after optional whitespace, which RFC 9110 §5.6.3 OWS allows), rewritten at most once per
 * second of age: a fresh hit is one compare, maybe a 10-byte write, and one `sendPrebuilt`.
 */
import { CacheEntry, type EntryRecord, type PrebuiltBytes, type StoredField } from '../cache/entry.ts';
import type { SharedEntry } from '../cache/shared/entry.ts';
import { serializeHead } from '../http/semantics/head.ts';
import type { HeaderList, Response } from '../http/types.ts';
import type { CacheDirectives } from './cache-control.ts';
import { currentAge, type StoredFreshness } from './freshness.ts';
import { NOT_MODIFIED_FIELDS } from './validation.ts';

/** Width of the Age value slot: 2^31 has 10 digits (RFC 9111 §1.2.2 caps delta-seconds there). */
const AGE_WIDTH = 10;
const AGE_MAX = 2147483648;
/** The Age field as first serialised (value 0, right-aligned). */
export const AGE_PLACEHOLDER = '0'.padStart(AGE_WIDTH, ' ');

/** What a proxied entry knows beyond its bytes. */
export interface ProxyEntryMeta {
  /** URL key (without the Vary part). */
  base: string;
  /** The request-target that selected it (`Request.target`): the fast path's index key, with the host. */
  target: string;
  requestTime: number;
  responseTime: number;
  initialAgeMs: number;
  lifetimeMs: number;
  directives: CacheDirectives;
  /** Names the response varies on, or null. */
  vary: readonly string[] | null;
  /**
   * The selecting request's values of the `vary` fields as received (all lines joined; undefined: absent),
   * or null. A request with the very same values selects this variant without normalising them (§4.1).
   */
  varyValues: ReadonlyArray<string | undefined> | null;
  /** Number of fields at the end of `record.fields` that this cache added (Age, Cache-Status). */
  ownFields: number;
}

export class ProxyEntry extends CacheEntry implements StoredFreshness {
  readonly base: string;
  readonly target: string;
  readonly requestTime: number;
  readonly responseTime: number;
  readonly initialAgeMs: number;
  /** Shortened by a soft purge (`markStale`), otherwise as stored. */
  lifetimeMs: number;
  /** Epoch ms from which the entry is stale (§4.2: lifetime > current_age before it). */
  freshUntil: number;
  readonly directives: CacheDirectives;
  readonly vary: readonly string[] | null;
  readonly varyValues: ReadonlyArray<string | undefined> | null;
  readonly ownFields: number;
  /** A background refresh (stale-while-revalidate) is running: start no second one. */
  refreshing = false;
  /**
   * Next stored entry with the same request-target (another host, another variant): the chain of the
   * cache's by-target index (see ProxyCache.tryHit). Almost always null.
   */
  sameTarget: ProxyEntry | null = null;
  /** Id of the newest ban it was checked against or stored after (bans.ts). */
  banChecked = 0;
  /** Its tags (purge by tag, tags.ts), set when stored; null when it has none. */
  tags: readonly string[] | null = null;
  /** Order in which it was stored (a tag purge in progress covers the entries stored before it). */
  storedSeq = 0;
  /**
   * The shared store's entry this one decodes (its bytes: this worker's copy of the head, and of the body
   * when small, a large body written from shared memory under a pin); null for an entry of this worker.
   */
  readonly shared: SharedEntry | null;
  private readonly ageOffset: number;
  /** First ms at which the Age value in the buffer is out of date. */
  private ageUntil = 0;
  /** The 304 answer to a client's satisfied conditional (§4.3.2), built on first use; its Age slot. */
  private notModified304: Buffer | null = null;
  private notModifiedAgeOffset = -1;
  private notModifiedAgeUntil = 0;

  /**
   * @param shared the shared store's entry whose bytes `prebuilt` are (see {@link ProxyEntry.shared})
   */
  constructor(
    record: EntryRecord,
    meta: ProxyEntryMeta,
    prebuilt: PrebuiltBytes | null = null,
    shared: SharedEntry | null = null,
  ) {
    super(record, true, prebuilt);
    this.shared = shared;
    this.base = meta.base;
    this.target = meta.target;
    this.requestTime = meta.requestTime;
    this.responseTime = meta.responseTime;
    this.initialAgeMs = meta.initialAgeMs;
    this.lifetimeMs = meta.lifetimeMs;
    this.freshUntil = meta.responseTime + meta.lifetimeMs - meta.initialAgeMs;
    this.directives = meta.directives;
    this.vary = meta.vary;
    this.varyValues = meta.varyValues;
    this.ownFields = meta.ownFields;
    const at = this.full.indexOf('\r\nAge: ' + AGE_PLACEHOLDER + '\r\n', 0, 'latin1');
    this.ageOffset = at === -1 ? -1 : at + 7;
  }

  /** Whether `headers` carry exactly the values that selected this variant (then they select it again). */
  selectedBy(headers: HeaderList): boolean {
    const names = this.vary;
    const values = this.varyValues;
    if (names === null || values === null) return false;
    for (let i = 0; i < names.length; i++) if (headers.getJoined(names[i]!) !== values[i]) return false;
    return true;
  }

  /** The fields as received from the origin (without this cache's Age and Cache-Status). */
  get originFields(): readonly StoredField[] {
    const fields = this.record.fields;
    return this.ownFields === 0 ? fields : fields.slice(0, fields.length - this.ownFields);
  }

  /** current_age (§4.2.3) at `now`, whole seconds as sent in Age (§5.1). */
  ageSeconds(now: number): number {
    return Math.min(AGE_MAX, Math.floor(currentAge(this.initialAgeMs, this.responseTime, now) / 1000));
  }

  /**
   * Soft purge: the entry is stale from `now` on, as if its lifetime had ended now (so a
   * stale-while-revalidate window starts now), instead of being removed. False when it already was.
   */
  markStale(now: number): boolean {
    if (now >= this.freshUntil) return false;
    this.lifetimeMs = Math.max(0, currentAge(this.initialAgeMs, this.responseTime, now));
    this.freshUntil = now;
    return true;
  }

  /**
   * A shared entry's freshness as the store has it at `now`: a soft purge in any worker brings the time
   * it turns stale forward (the store's `checkAt`).
   */
  syncFreshness(staleFrom: number, now: number): void {
    if (staleFrom >= this.freshUntil) return;
    // Stale for every request from the one that sees the purge on, whatever the skew between the clock
    // of the purging worker and this request's.
    const at = Math.min(staleFrom, now);
    this.freshUntil = at;
    this.lifetimeMs = Math.max(0, at - this.responseTime + this.initialAgeMs);
  }

  /**
   * Send the whole GET (or HEAD) answer with Age brought up to `now`. False when a shared entry left the
   * store meanwhile: nothing was sent.
   */
  override send(res: Response, isGet: boolean, now: number): boolean {
    const bytes = this.serve(now, isGet);
    if (!isGet) res.sendPrebuilt(bytes);
    else if (this.separateBody === null) res.sendPrebuilt(bytes, null, null, this.headLength);
    else return this.shared!.sendPinned(res, bytes);
    return true;
  }

  /** The body as a buffer of this worker (a copy for a shared entry); null when it left the store. */
  readBody(): Buffer | null {
    if (this.shared === null || this.separateBody === null) return this.body;
    return this.shared.copyBody();
  }

  /** Seconds of freshness left (negative: stale), for Cache-Status ttl. */
  ttlSeconds(now: number): number {
    return Math.floor((this.freshUntil - now) / 1000);
  }

  /** The whole GET (or HEAD) answer with the Age slot brought up to `now`. */
  serve(now: number, isGet: boolean): Buffer {
    if (now >= this.ageUntil && this.ageOffset !== -1)
      this.ageUntil = this.writeAge(this.full, this.ageOffset, now);
    return isGet ? this.full : this.headResponse(now);
  }

  /**
   * The 304 for a client whose validator matched (§4.3.2): the fields a 200 would carry that describe
   * caching and validators (RFC 9110 §15.4.5), then this cache's Age and Cache-Status, as a plain hit has
   * them. Built on the first such request, its Age slot kept up to date as `serve` keeps the 200's.
   */
  serveNotModified(now: number): Buffer {
    let bytes = this.notModified304;
    if (bytes === null) {
      const fields = this.record.fields;
      const kept = this.originFields.filter(([name]) => NOT_MODIFIED_FIELDS.has(name.toLowerCase()));
      const own = fields.slice(fields.length - this.ownFields);
      bytes = Buffer.from(serializeHead(304, '', [...kept, ...own], null, null, null).text, 'latin1');
      const at = bytes.indexOf('\r\nAge: ' + AGE_PLACEHOLDER + '\r\n', 0, 'latin1');
      this.notModifiedAgeOffset = at === -1 ? -1 : at + 7;
      this.notModified304 = bytes;
    }
    if (now >= this.notModifiedAgeUntil && this.notModifiedAgeOffset !== -1)
      this.notModifiedAgeUntil = this.writeAge(bytes, this.notModifiedAgeOffset, now);
    return bytes;
  }

  /** Write the Age value at `now` into a slot; returns the first ms at which it is out of date. */
  private writeAge(bytes: Buffer, offset: number, now: number): number {
    const ageMs = currentAge(this.initialAgeMs, this.responseTime, now);
    bytes.write(this.ageSeconds(now).toString().padStart(AGE_WIDTH, ' '), offset, 'latin1');
    return now + (1000 - (ageMs % 1000));
  }
}
