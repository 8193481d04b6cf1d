/**
 * Removing stored responses on purpose (third layer of `ProxyCache`, after proxy-store.ts): §4.4
 * invalidation by unsafe methods, and the BroadcastChannel that carries it to the server's other worker
 * threads, whose stores are their own. (The `PURGE` method is the content cache's: src/cache/purge.ts.)
 */

import { BroadcastChannel } from 'node:worker_threads';
import type { SharedStoreClient } from '../cache/shared/client.ts';
import type { CacheStats } from '../cache/stats.ts';
import type { MemoryStore } from '../cache/store.ts';
import type { HeaderList, Request } from '../http/types.ts';
import { invalidationTargets } from './invalidation.ts';
import { baseKey, ProxyStore } from './proxy-store.ts';

/** What one worker tells the others. */
type PeerMessage = { type: 'invalidate'; bases: string[] };

/** Invalidation, and the other workers told of it. */
export class PeerInvalidation extends ProxyStore {
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
    channel: string | null,
    shared: { readonly client: SharedStoreClient; readonly stamp: number } | null,
  ) {
    super(store, stats, name, clock, shared);
    // The shared store is every worker's: its owner invalidates once for all.
    if (channel !== null && this.shared === null) {
      const peers = new BroadcastChannel(channel);
      peers.onmessage = (event) => this.fromPeer((event as { data: PeerMessage }).data);
      // A channel must not keep a worker alive on shutdown.
      peers.unref();
      this.peers = peers;
    }
  }

  /** Apply another worker's invalidation to this worker's store (never re-broadcast). */
  private fromPeer(message: PeerMessage): void {
    if (message.type === 'invalidate') for (const base of message.bases) this.invalidateBase(base);
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
    if (this.shared !== null) {
      void this.shared.invalidate(bases);
      return;
    }
    for (const base of bases) this.invalidateBase(base);
    this.peers?.postMessage({ type: 'invalidate', bases } satisfies PeerMessage);
  }

  /** Stop hearing from the other workers (shutdown). */
  protected closePeers(): void {
    this.peers?.close();
  }
}
