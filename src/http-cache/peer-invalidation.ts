/**
 * Removing stored responses on purpose (third layer of `ProxyCache`, after proxy-store.ts): §4.4
 * invalidation by unsafe methods, the `PURGE` method (purge.ts decides who may and what it matches), and
 * the BroadcastChannel that carries both to the server's other worker threads, whose stores are their own.
 */

import { BroadcastChannel, threadId } from 'node:worker_threads';
import type { CacheStats } from '../cache/stats.ts';
import type { MemoryStore, PurgeFilter } from '../cache/store.ts';
import type { HeaderList, Request, Response } from '../http/types.ts';
import { invalidationTargets } from './invalidation.ts';
import { baseKey, ProxyStore } from './proxy-store.ts';
import { PurgeGate, type PurgeMethodOptions, purgeFilterOf } from './purge.ts';
import { sendText } from './respond.ts';

/**
 * What one worker tells the others. A `PURGE` request's purge carries an id: every other worker answers
 * it with what it removed, so that the request is answered with the whole server's count.
 */
type PeerMessage =
  | { type: 'purge'; filter: PurgeFilter; id?: string }
  | { type: 'purged'; id: string; removed: number; bytes: number }
  | { type: 'invalidate'; bases: string[] };

/** How long a PURGE request waits for the other workers' counts; then it is answered with those it has. */
const PEER_ANSWER_MS = 1000;

/** A PURGE request waiting for the other workers' counts. */
interface PendingPurge {
  res: Response;
  removed: number;
  bytes: number;
  /** Workers that answered, this one included. */
  answered: number;
  timer: NodeJS.Timeout;
}

/** Invalidation, PURGE, and the other workers told of both. */
export class PeerInvalidation extends ProxyStore {
  /** Who may PURGE; null when the method is off. */
  protected readonly gate: PurgeGate | null;
  private readonly peers: BroadcastChannel | null = null;
  /** Workers of the server, this one included: how many answers a PURGE waits for. */
  private readonly workers: number;
  private readonly pending = new Map<string, PendingPurge>();
  private nextPurge = 0;

  /**
   * @param channel Name of the BroadcastChannel shared by the server's worker threads; null with a single
   *   worker.
   * @param workers Worker threads on that channel, this one included.
   */
  constructor(
    store: MemoryStore,
    stats: CacheStats,
    name: string,
    clock: () => number,
    purge: PurgeMethodOptions,
    channel: string | null,
    workers = 1,
  ) {
    super(store, stats, name, clock);
    this.workers = channel === null ? 1 : Math.max(1, workers);
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
      const result = this.store.purge(message.filter);
      if (message.id !== undefined) {
        const { removed, bytes } = result;
        this.peers?.postMessage({ type: 'purged', id: message.id, removed, bytes } satisfies PeerMessage);
      }
    } else if (message.type === 'purged') {
      const waiting = this.pending.get(message.id);
      if (waiting === undefined) return; // another worker's request, or answered at its timeout
      waiting.removed += message.removed;
      waiting.bytes += message.bytes;
      waiting.answered++;
      if (waiting.answered >= this.workers) this.answerPurge(message.id);
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

  /** `PURGE /url` or `PURGE /prefix*` (purge.ts); only called when `gate` is set. */
  protected purge(req: Request, res: Response): void {
    const refusal = this.gate!.check(req);
    if (refusal !== null) {
      sendText(res, 403, `403 Forbidden (${refusal})`, null);
      return;
    }
    const filter = purgeFilterOf(req);
    const { removed, bytes } = this.store.purge(filter);
    const id = `${threadId}:${this.nextPurge++}`;
    // Answered at once with a single worker; else when every other worker has told its count (or, if one
    // is restarting, after PEER_ANSWER_MS with the counts that came: `workers` says how many).
    const timer = setTimeout(() => this.answerPurge(id), PEER_ANSWER_MS);
    this.pending.set(id, { res, removed, bytes, answered: 1, timer });
    if (this.peers === null || this.workers === 1) {
      this.answerPurge(id);
      return;
    }
    this.peers.postMessage({ type: 'purge', filter, id } satisfies PeerMessage);
  }

  private answerPurge(id: string): void {
    const done = this.pending.get(id);
    if (done === undefined) return;
    this.pending.delete(id);
    clearTimeout(done.timer);
    const { res } = done;
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Cache-Control', 'no-store');
    const body = { purged: done.removed, bytes: done.bytes, workers: done.answered };
    res.end(JSON.stringify(body) + '\n');
  }

  /** Stop hearing from the other workers (shutdown); waiting PURGE requests get the counts they have. */
  protected closePeers(): void {
    for (const id of [...this.pending.keys()]) this.answerPurge(id);
    this.peers?.close();
  }
}
