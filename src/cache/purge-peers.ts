/**
 * The `PURGE` method across worker threads: each worker's store is its own, so a purge made in one worker is
 * sent to the others, and the request is answered with the whole server's count once every other worker
 * has told what it removed (or, if one is restarting, after {@link PEER_ANSWER_MS} with the counts that came:
 * the answer's `workers` says how many).
 */
import { BroadcastChannel, threadId } from 'node:worker_threads';
import type { BanSpec } from '../server/bans.ts';
import type { PurgeFilter } from './store.ts';

/**
 * One purge as the workers pass it on: by filter or by tags, removing entries or (`soft`) marking them
 * stale; or a ban, swept through before its count is told.
 */
export type PurgeOrder =
  | { filter: PurgeFilter; soft: boolean }
  | { tags: readonly string[]; soft: boolean }
  | { ban: BanSpec };

type PeerMessage =
  | { type: 'purge'; order: PurgeOrder; id: string }
  | { type: 'purged'; id: string; removed: number; bytes: number };

/** What one worker's purge removed. */
interface PurgeDone {
  removed: number;
  bytes: number;
}

/** How long a PURGE request waits for the other workers' counts. */
const PEER_ANSWER_MS = 1000;

/** The whole server's count for one purge. */
export interface PurgeCount {
  removed: number;
  bytes: number;
  /** Workers that answered, this one included. */
  workers: number;
}

interface Pending extends PurgeCount {
  readonly done: (count: PurgeCount) => void;
  readonly timer: NodeJS.Timeout;
}

export class PurgePeers {
  private readonly channel: BroadcastChannel;
  private readonly pending = new Map<string, Pending>();
  private readonly workers: number;
  private readonly purgeHere: (order: PurgeOrder) => PurgeDone | Promise<PurgeDone>;
  private next = 0;

  /**
   * @param name BroadcastChannel shared by the server's workers.
   * @param workers Worker threads on that channel, this one included.
   * @param purgeHere Applies another worker's purge to this worker's store.
   */
  constructor(
    name: string,
    workers: number,
    purgeHere: (order: PurgeOrder) => PurgeDone | Promise<PurgeDone>,
  ) {
    this.workers = workers;
    this.purgeHere = purgeHere;
    this.channel = new BroadcastChannel(name);
    this.channel.onmessage = (event) => this.fromPeer((event as { data: PeerMessage }).data);
    // A channel must not keep a worker alive on shutdown.
    this.channel.unref();
  }

  /** Tell the other workers of a purge this one made (`local`: what it removed); resolves with the total. */
  spread(order: PurgeOrder, local: { removed: number; bytes: number }): Promise<PurgeCount> {
    return new Promise((resolve) => {
      const id = `${threadId}:${this.next++}`;
      const timer = setTimeout(() => this.finish(id), PEER_ANSWER_MS);
      this.pending.set(id, { ...local, workers: 1, done: resolve, timer });
      if (this.workers <= 1) return this.finish(id);
      this.channel.postMessage({ type: 'purge', order, id } satisfies PeerMessage);
    });
  }

  private fromPeer(message: PeerMessage): void {
    if (message.type === 'purge') {
      const done = this.purgeHere(message.order);
      // A large purge or a ban's sweep runs in slices: its count is told once it is done.
      if (done instanceof Promise) void done.then((count) => this.tell(message.id, count));
      else this.tell(message.id, done);
      return;
    }
    const waiting = this.pending.get(message.id);
    if (waiting === undefined) return; // another worker's request, or answered at its timeout
    waiting.removed += message.removed;
    waiting.bytes += message.bytes;
    waiting.workers++;
    if (waiting.workers >= this.workers) this.finish(message.id);
  }

  private tell(id: string, { removed, bytes }: PurgeDone): void {
    this.channel.postMessage({ type: 'purged', id, removed, bytes } satisfies PeerMessage);
  }

  private finish(id: string): void {
    const done = this.pending.get(id);
    if (done === undefined) return;
    this.pending.delete(id);
    clearTimeout(done.timer);
    done.done({ removed: done.removed, bytes: done.bytes, workers: done.workers });
  }

  /** Shutdown: waiting requests get the counts they have. */
  close(): void {
    for (const id of [...this.pending.keys()]) this.finish(id);
    this.channel.close();
  }
}
