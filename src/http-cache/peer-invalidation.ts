/**
 * Removing stored responses on purpose (third layer of `ProxyCache`, after proxy-store.ts): §4.4
 * invalidation by unsafe methods, the `PURGE` method (purge.ts decides who may and what it matches), and
 * the BroadcastChannel that carries both to the server's other worker threads, whose stores are their own.
 */

import { BroadcastChannel } from 'node:worker_threads';
import type { CacheStats } from '../cache/stats.ts';
import type { MemoryStore, PurgeFilter, PurgeResult } from '../cache/store.ts';
import type { HeaderList, Request, Response } from '../http/types.ts';
import { invalidationTargets } from './invalidation.ts';
import { baseKey, ProxyStore } from './proxy-store.ts';
import { PurgeGate, type PurgeMethodOptions, purgeFilterOf } from './purge.ts';
import { sendText } from './respond.ts';
import { splitTags } from './tags.ts';

/** What one worker tells the others. */
type PeerMessage =
  | { type: 'purge'; filter: PurgeFilter; soft?: boolean }
  | { type: 'purge-tags'; tags: string[]; soft?: boolean }
  | { type: 'invalidate'; bases: string[] };

/** Invalidation, PURGE, and the other workers told of both. */
export class PeerInvalidation extends ProxyStore {
  /** Who may PURGE; null when the method is off. */
  protected readonly gate: PurgeGate | null;
  private readonly peers: BroadcastChannel | null = null;

  /**
   * @param channel Name of the BroadcastChannel shared by the server's worker threads; null with a single
   *   worker.
   */
  constructor(
    store: MemoryStore,
    stats: CacheStats,
    name: string,
    clock: () => number,
    purge: PurgeMethodOptions,
    channel: string | null,
  ) {
    super(store, stats, name, clock);
    this.gate = purge.enabled ? new PurgeGate(purge) : null;
    if (channel !== null) {
      const peers = new BroadcastChannel(channel);
      peers.onmessage = (event) => this.fromPeer((event as { data: PeerMessage }).data);
      // A channel must not keep a worker alive on shutdown.
      peers.unref();
      this.peers = peers;
    }
  }

  /** Apply another worker's purge or invalidation to this worker's store (never re-broadcast). */
  private fromPeer(message: PeerMessage): void {
    if (message.type === 'purge') {
      if (message.soft === true) this.softPurge(message.filter);
      else this.store.purge(message.filter);
    } else if (message.type === 'purge-tags') {
      if (message.soft === true) this.softPurgeTags(message.tags);
      else this.purgeTags(message.tags);
    } else if (message.type === 'invalidate') for (const base of message.bases) this.invalidateBase(base);
  }

  private invalidateBase(base: string): void {
    for (const key of this.vary.variants(base)) this.store.delete(key, 'invalidated');
    this.store.delete(base, 'invalidated');
  }

  /** §4.4: invalidate the stored responses for the URIs an unsafe request changed. */
  invalidate(req: Request, status: number, head: HeaderList): void {
    const targets = invalidationTargets(
      req.method,
      status,
      req.host,
      req.target,
      head.get('location'),
      head.get('content-location'),
    );
    if (targets.length === 0) return;
    const bases = targets.map(({ host, target }) => baseKey(host, target));
    for (const base of bases) this.invalidateBase(base);
    this.peers?.postMessage({ type: 'invalidate', bases } satisfies PeerMessage);
  }

  /** `PURGE /url`, `PURGE /prefix*` or a PURGE with `X-Purge-Tag` (purge.ts); only called when `gate` is set. */
  protected purge(req: Request, res: Response): void {
    const refusal = this.gate!.check(req);
    if (refusal !== null) {
      sendText(res, 403, `403 Forbidden (${refusal})`, null);
      return;
    }
    // `X-Purge-Tag: a b` (or Fastly's `Surrogate-Key`) purges by tag; the target is then ignored.
    const tagValue = req.headers.getJoined('x-purge-tag') ?? req.headers.getJoined('surrogate-key');
    // `X-Purge-Soft: 1` (Fastly's `Fastly-Soft-Purge: 1` too): mark stale instead of removing.
    const softValue = req.headers.get('x-purge-soft') ?? req.headers.get('fastly-soft-purge');
    const soft = softValue === '1' || softValue?.toLowerCase() === 'true';
    let result: PurgeResult;
    if (tagValue !== undefined) {
      const tags = splitTags(tagValue);
      if (tags.length === 0) {
        sendText(res, 400, '400 Bad Request (X-Purge-Tag names no tag)', null);
        return;
      }
      result = soft ? this.softPurgeTags(tags) : this.purgeTags(tags);
      this.peers?.postMessage({ type: 'purge-tags', tags, soft } satisfies PeerMessage);
    } else {
      const filter = purgeFilterOf(req);
      result = soft ? this.softPurge(filter) : this.store.purge(filter);
      this.peers?.postMessage({ type: 'purge', filter, soft } satisfies PeerMessage);
    }
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Cache-Control', 'no-store');
    res.end(
      JSON.stringify(soft ? { stale: result.removed } : { purged: result.removed, bytes: result.bytes }) +
        '\n',
    );
  }

  /** Stop hearing from the other workers (shutdown). */
  protected closePeers(): void {
    this.peers?.close();
  }
}
