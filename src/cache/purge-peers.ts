/**
 * The `PURGE` and `BAN` methods across worker threads: each worker's store is its own, so a purge made in
 * one worker is sent to the others at once (each runs it alongside, so it takes effect in all together),
 * and the request is answered with the whole server's count once every other worker has told what it
 * removed. A worker that does not say it started within {@link PEER_START_MS} (restarting) is left out,
 * as one that started but did not answer within {@link PEER_ANSWER_MS}: the answer's `workers` says how
 * many counted.
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
  | { type: 'started'; id: string }
  | { type: 'purged'; id: string; removed: number; bytes: number };

/** What one worker's purge removed. */
interface PurgeDone {
  removed: number;
  bytes: number;
}

/**
 * How long a purge waits for the other workers to say they started it: one that has not by then is
 * restarting (or gone) and left out of the count.
 */
const PEER_START_MS = 1000;
/** Longest wait for a started purge's count (a large one runs in slices; a worker may die meanwhile). */
const PEER_ANSWER_MS = 30_000;

/** The whole server's count for one purge. */
export interface PurgeCount {
  removed: number;
  bytes: number;
  /** Workers that answered, this one included. */
  workers: number;
}

interface Pending {
  removed: number;
  bytes: number;
  /** Other workers that started the purge, and that told its count. */
  started: number;
  answered: number;
  /** How many counts are awaited: every other worker, until {@link PEER_START_MS} tells who started. */
  expected: number;
  readonly done: (count: PurgeCount) => void;
  timer: NodeJS.Timeout;
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

  /**
   * Tell the other workers of a purge this one is making (`local`: what it removed, or will once done):
   * they start it at once, alongside this worker's slices, so it takes effect in every worker together.
   * Resolves with the whole server's count.
   */
  async spread(order: PurgeOrder, local: PurgeDone | Promise<PurgeDone>): Promise<PurgeCount> {
    const others = new Promise<PurgeCount>((resolve) => {
      const id = `${threadId}:${this.next++}`;
      const expected = this.workers - 1;
      const timer = setTimeout(() => this.startTimeout(id), PEER_START_MS);
      this.pending.set(id, { removed: 0, bytes: 0, started: 0, answered: 0, expected, done: resolve, timer });
      if (expected <= 0) this.finish(id);
      else this.channel.postMessage({ type: 'purge', order, id } satisfies PeerMessage);
    });
    const [mine, theirs] = await Promise.all([local, others]);
    return {
      removed: mine.removed + theirs.removed,
      bytes: mine.bytes + theirs.bytes,
      workers: theirs.workers + 1,
    };
  }

  private fromPeer(message: PeerMessage): void {
    if (message.type === 'purge') {
      this.channel.postMessage({ type: 'started', id: message.id } satisfies PeerMessage);
      const done = this.purgeHere(message.order);
      // A large purge or a ban's sweep runs in slices: its count is told once it is done.
      if (done instanceof Promise) void done.then((count) => this.tell(message.id, count));
      else this.tell(message.id, done);
      return;
    }
    const waiting = this.pending.get(message.id);
    if (waiting === undefined) return; // another worker's request, or answered at a timeout
    if (message.type === 'started') {
      waiting.started++;
      return;
    }
    waiting.removed += message.removed;
    waiting.bytes += message.bytes;
    waiting.answered++;
    if (waiting.answered >= waiting.expected) this.finish(message.id);
  }

  /** The workers that have not started the purge by now are left out; the others' counts are awaited. */
  private startTimeout(id: string): void {
    const waiting = this.pending.get(id);
    if (waiting === undefined) return;
    waiting.expected = waiting.started;
    if (waiting.answered >= waiting.expected) {
      this.finish(id);
      return;
    }
    waiting.timer = setTimeout(() => this.finish(id), PEER_ANSWER_MS);
  }

  private tell(id: string, { removed, bytes }: PurgeDone): void {
    this.channel.postMessage({ type: 'purged', id, removed, bytes } satisfies PeerMessage);
  }

  private finish(id: string): void {
    const done = this.pending.get(id);
    if (done === undefined) return;
    this.pending.delete(id);
    clearTimeout(done.timer);
    done.done({ removed: done.removed, bytes: done.bytes, workers: done.answered });
  }

  /** Shutdown: waiting requests get the counts they have. */
  close(): void {
    for (const id of [...this.pending.keys()]) this.finish(id);
    this.channel.close();
  }
}
