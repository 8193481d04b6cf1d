/**
 * Proxied responses in the server's shared store (src/cache/shared/): one copy for every worker, so that
 * a response stored through one worker is a hit on all of them, a revalidation refreshes it for all, and a
 * purge or an invalidation is one operation of the store's owner instead of a message to every worker.
 *
 * What RFC 9111 needs beyond the bytes travels with the entry as its `extra` metadata (JSON): the timing
 * of §4.2.3, the lifetime, the response directives, the Vary names and the values that selected the
 * variant. Each worker decodes an entry once into a `ProxyEntry` over its own copy of the head (whose Age
 * slot it rewrites) and of small bodies; large bodies are written from shared memory under a pin. The time
 * an entry turns stale is the store's `checkAt`, shared: a soft purge in the owner moves it for everyone.
 *
 * Vary (§4.1): the URL's base key holds either its one response or, when it varies, a small record of the
 * Vary names (a "vary marker", as Squid keeps one): a worker that has never seen the URL learns from it
 * which request fields select the variant. Every entry of a URL is in the URL's group, so an invalidation
 * removes the URL and its variants at once.
 */

import type { SharedStoreClient } from '../cache/shared/client.ts';
import type { SharedEntry } from '../cache/shared/entry.ts';
import { toSharedInput } from '../cache/shared/input.ts';
import type { SharedInput } from '../cache/shared/owner.ts';
import type { RemovalReason } from '../cache/store.ts';
import type { HeaderList } from '../http/types.ts';
import type { BanList } from './bans.ts';
import { ProxyEntry, type ProxyEntryMeta } from './proxy-entry.ts';
import { variantKey } from './vary.ts';
import { directivesOf } from './warm-proxy.ts';

/** A proxied response's RFC 9111 state, as the store keeps it (`SharedMeta.extra`). */
interface ResponseExtra {
  readonly proxy: Omit<ProxyEntryMeta, 'varyValues'> & {
    /** JSON has no undefined: an absent field is null. */
    varyValues: Array<string | null> | null;
    /**
     * The storing worker's newest ban when it stored the entry: bans are added to every worker in the
     * same order, so a ban with a higher id came after the entry.
     */
    bansSeen: number;
  };
}

/** The vary marker under a varying URL's base key. */
interface VaryExtra {
  readonly varies: string[];
}

/** A worker's decoded vary marker; remembers the variant it last selected, to skip normalising. */
interface VaryView {
  readonly names: readonly string[];
  last: ProxyEntry | null;
}

/** What a shared entry decodes to in this worker: a response, a vary marker, or not ours (false). */
type View = ProxyEntry | VaryView | false;

export class SharedProxyStore {
  readonly client: SharedStoreClient;
  /** The configuration stamp entries are stored with and served for (see `SharedMeta.stamp`). */
  private readonly stamp: number;
  private readonly bans: BanList;

  constructor(client: SharedStoreClient, stamp: number, bans: BanList) {
    this.client = client;
    this.stamp = stamp;
    this.bans = bans;
  }

  /** The decoded view of `key` (recording the hit for the policy), or undefined when absent or expired. */
  private view(key: string, now: number): View | undefined {
    const shared = this.client.get(key, now);
    if (shared === undefined) return undefined;
    let view = shared.producerView as View | null;
    if (view === null) {
      view = this.decode(shared);
      shared.producerView = view;
    }
    return view;
  }

  /** The stored response under `key` (a URL or one of its variants), or undefined. */
  entry(key: string, now: number): ProxyEntry | undefined {
    const view = this.view(key, now);
    if (!(view instanceof ProxyEntry)) return undefined;
    view.syncFreshness(view.shared!.checkAt, now);
    return view;
  }

  /** The Vary names of `base` when its stored responses vary, else undefined. */
  varyNames(base: string, now: number): readonly string[] | undefined {
    const view = this.view(base, now);
    return view === undefined || view === false || view instanceof ProxyEntry ? undefined : view.names;
  }

  /** The stored response a request for `base` with `headers` selects (§4.1), or undefined. */
  select(base: string, headers: HeaderList, now: number): ProxyEntry | undefined {
    const view = this.view(base, now);
    if (view === undefined || view === false) return undefined;
    if (view instanceof ProxyEntry) {
      view.syncFreshness(view.shared!.checkAt, now);
      return view;
    }
    const last = view.last;
    const key = last?.selectedBy(headers) ? last.record.key : variantKey(base, view.names, headers);
    const entry = this.entry(key, now);
    if (entry !== undefined) view.last = entry;
    return entry;
  }

  /**
   * Store `entry` for every worker (with the URL's vary marker when it varies). Resolves false when the
   * store did not take it.
   */
  store(entry: ProxyEntry): Promise<boolean> {
    const record = entry.record;
    const input: SharedInput = toSharedInput(entry.toRecord(), entry.freshUntil, true, {
      routed: false,
      stamp: this.stamp,
    });
    input.group = entry.base;
    if (entry.tags !== null) input.tags = [...entry.tags];
    input.extra = {
      proxy: {
        base: entry.base,
        target: entry.target,
        requestTime: entry.requestTime,
        responseTime: entry.responseTime,
        initialAgeMs: entry.initialAgeMs,
        lifetimeMs: entry.lifetimeMs,
        directives: entry.directives,
        vary: entry.vary,
        varyValues: entry.varyValues === null ? null : entry.varyValues.map((v) => v ?? null),
        ownFields: entry.ownFields,
        bansSeen: entry.banChecked,
      },
    } satisfies ResponseExtra;
    const stored = this.client.set(input);
    const names = entry.vary;
    if (names === null || record.key === entry.base) return stored;
    // The marker first tells a worker which fields select; a marker with other names is replaced (the
    // variants stored under those can no longer be selected, and leave with the URL's group or by eviction).
    const marker = this.client.peek(entry.base);
    const known = (marker?.record.extra as VaryExtra | undefined)?.varies;
    if (marker !== undefined && marker.record.stamp === this.stamp && sameNames(known, names)) return stored;
    const varies: VaryExtra = { varies: [...names] };
    const markerInput: SharedInput = {
      key: entry.base,
      path: record.path,
      host: record.host,
      status: 0,
      reason: '',
      fields: [],
      file: null,
      storedAt: record.storedAt,
      expiresAt: Number.POSITIVE_INFINITY,
      checkAt: Number.POSITIVE_INFINITY,
      lastModifiedMs: Number.NaN,
      head: '',
      dateOffset: -1,
      body: new Uint8Array(0),
      stamp: this.stamp,
      group: entry.base,
      extra: varies,
    };
    return Promise.all([stored, this.client.set(markerInput)]).then(([ok]) => ok);
  }

  /** Remove `key` (fire and forget: the owner applies it for every worker). */
  delete(key: string, reason: RemovalReason): Promise<unknown> {
    return this.client.delete(key, reason).catch(() => false);
  }

  /** §4.4: remove the URLs `bases` with all their variants, for every worker. */
  invalidate(bases: readonly string[]): Promise<unknown> {
    return Promise.resolve(this.client.invalidate(bases)).catch(() => 0);
  }

  /** Every proxied response in the store, hottest first (warm restart: worker 0 saves them for all). */
  async stored(): Promise<ProxyEntry[]> {
    const rows = await this.client.link.hottest(this.client.maxEntries);
    const out: ProxyEntry[] = [];
    for (const { meta } of rows) {
      if ((meta.extra as Partial<ResponseExtra> | undefined)?.proxy === undefined) continue;
      const shared = this.client.peek(meta.key);
      if (shared === undefined) continue;
      const view = this.decode(shared);
      if (view instanceof ProxyEntry) out.push(view);
    }
    return out;
  }

  /** Decode a shared entry for this worker: false for one stored under another configuration. */
  private decode(shared: SharedEntry): View {
    const record = shared.record;
    if (record.stamp !== this.stamp) return false;
    const extra = record.extra as Partial<ResponseExtra & VaryExtra> | undefined;
    if (extra?.varies !== undefined) return { names: extra.varies, last: null };
    const p = extra?.proxy;
    if (p === undefined) return false;
    const full = shared.ownCopy();
    if (full === null) return false;
    // Large bodies stay in shared memory: `ProxyEntry.send` pins them for each write.
    const body = shared.pinsBody ? shared.sharedBody() : null;
    const entry = new ProxyEntry(
      {
        key: record.key,
        path: record.path,
        host: record.host,
        status: record.status,
        reason: record.reason,
        fields: record.fields,
        body: EMPTY,
        file: null,
        storedAt: record.storedAt,
        expiresAt: record.expiresAt,
      },
      {
        base: p.base,
        target: p.target,
        requestTime: p.requestTime,
        responseTime: p.responseTime,
        initialAgeMs: p.initialAgeMs,
        lifetimeMs: p.lifetimeMs,
        directives: directivesOf(p.directives as unknown as Record<string, unknown>),
        vary: p.vary,
        varyValues: p.varyValues === null ? null : p.varyValues.map((v) => v ?? undefined),
        ownFields: p.ownFields,
      },
      {
        full,
        separateBody: body,
        headLength: shared.headLength,
        bodyLength: shared.bodyLength,
        charge: shared.charge,
      },
      shared,
    );
    entry.tags = record.tags ?? null;
    // A ban added after the entry was stored applies to it: after its storing worker's newest ban, and
    // (a worker restarted since, whose list began anew) added after it was stored.
    entry.banChecked = Math.min(p.bansSeen, this.bans.checkedAt(record.storedAt));
    return entry;
  }
}

const EMPTY = Buffer.alloc(0);

function sameNames(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
