/**
 * Bans (Varnish `ban req.url ~ ...`): "every response stored before now whose URL (host, stored field)
 * matches this expression is invalid", without finding those responses first. A ban is checked lazily,
 * when a lookup finds an entry stored before it (a match is removed and the lookup is a miss), and a
 * background sweep checks every other entry, in slices, so that a ban can leave the list once no entry
 * older than it is left unchecked. An entry remembers the newest ban it was checked against: after the
 * first lookup, a hit with bans pending costs one integer comparison.
 *
 * Bans are per worker (each worker's store is its own; the admin API adds a ban in every worker). Behind
 * {@link BanTarget} so a shared store can run the same list over its own entries.
 */
import type { StoredField } from '../cache/entry.ts';
import { type BanInfo, type BanMatcher, type BanSpec, banMatcher } from '../server/bans.ts';
import { inSlices, SLICE_ENTRIES } from './slices.ts';

export { type BanInfo, type BanSpec, banSpecError, MAX_BAN_EXPRESSION } from '../server/bans.ts';

/** What a ban may look at in a stored response. */
export interface BanTarget {
  /** The request-target it was stored for (path and query, as sent). */
  readonly target: string;
  readonly record: { readonly host: string; readonly fields: readonly StoredField[] };
  /** Id of the newest ban this entry was checked against (or stored after). */
  banChecked: number;
}

interface Ban {
  readonly info: BanInfo;
  readonly matches: BanMatcher;
}

/** Bans pending at most (a flood of bans would make every first lookup slow). */
export const MAX_BANS = 1000;

/** The bans of one store, oldest first. */
export class BanList {
  private bans: Ban[] = [];
  /** Id of the newest ban (0: none was ever added). Entries with `banChecked` at it need no check. */
  latest = 0;

  get size(): number {
    return this.bans.length;
  }

  /** Add a ban (`banSpecError` must have accepted it); throws beyond {@link MAX_BANS}. */
  add(spec: BanSpec, now: number): BanInfo {
    if (this.bans.length >= MAX_BANS) throw new Error(`too many bans pending (${MAX_BANS})`);
    const info: BanInfo = { id: ++this.latest, created: now, removed: 0, ...spec };
    this.bans.push({ info, matches: banMatcher(spec) });
    return info;
  }

  /**
   * Whether a ban newer than the entry's last check matches it (the caller removes it). When none does,
   * the entry is marked checked up to the newest ban.
   */
  check(entry: BanTarget): boolean {
    const from = entry.banChecked;
    const bans = this.bans;
    for (let i = bans.length - 1; i >= 0; i--) {
      const ban = bans[i]!;
      if (ban.info.id <= from) break;
      if (ban.matches(entry.target, entry.record.host, entry.record.fields)) {
        ban.info.removed++;
        return true;
      }
    }
    entry.banChecked = this.latest;
    return false;
  }

  /**
   * The `banChecked` of an entry stored at `time` that this list has not seen yet (an entry of the shared
   * store that another worker stored): the bans added after `time` apply to it, the older ones do not.
   */
  checkedAt(time: number): number {
    let id = this.latest;
    for (let i = this.bans.length - 1; i >= 0; i--) {
      const ban = this.bans[i]!;
      if (ban.info.created <= time) break;
      id = ban.info.id - 1;
    }
    return id;
  }

  /** Drop the bans up to `id`: every entry stored before them has been checked. */
  retire(id: number): void {
    this.bans = this.bans.filter((ban) => ban.info.id > id);
  }

  list(): BanInfo[] {
    return this.bans.map((ban) => ({ ...ban.info }));
  }
}

/**
 * The background sweep: while bans are pending, every `intervalMs` it checks every stored entry against
 * them in slices between I/O (slices.ts), then retires the bans that existed when it started. A caller
 * that needs a ban cleared (the `BAN` method answers with its count) awaits `sweep()`.
 */
export class BanSweeper<E extends BanTarget> {
  private timer: NodeJS.Timeout | null = null;
  /** The sweep running, and the newest ban it covers. */
  private running: Promise<void> | null = null;
  private runningUpTo = 0;
  private readonly bans: BanList;
  private readonly entries: () => Iterator<E>;
  private readonly remove: (entry: E) => void;
  private readonly intervalMs: number;
  /** Whether a sweep sees every stored entry (then it retires the bans it covered). */
  private readonly complete: boolean;

  /**
   * @param entries Every stored entry, lazily: a sweep walks it across slices (entries stored meanwhile
   *   may or may not come: they were stored after its bans).
   * @param complete `entries` lists every stored entry: false when it lists only those this worker has
   *   seen (the shared store), and then bans are checked but never retired @default true
   */
  constructor(
    bans: BanList,
    entries: () => Iterator<E>,
    remove: (entry: E) => void,
    intervalMs = 1000,
    complete = true,
  ) {
    this.complete = complete;
    this.bans = bans;
    this.entries = entries;
    this.remove = remove;
    this.intervalMs = intervalMs;
  }

  /** A ban was added: make sure a sweep will run. */
  wake(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      if (this.running === null) void this.sweep();
    }, this.intervalMs);
    this.timer.unref();
  }

  /**
   * Check every stored entry against the bans pending now, then retire them; resolves when done. A sweep
   * already running that covers them is awaited, one that does not is followed by another.
   */
  sweep(): Promise<void> {
    const running = this.running;
    if (running !== null) {
      return this.runningUpTo >= this.bans.latest ? running : running.then(() => this.sweep());
    }
    if (this.bans.size === 0 || !this.complete) {
      this.stop();
      return Promise.resolve();
    }
    const upTo = this.bans.latest;
    const entries = this.entries();
    const sweep = inSlices((deadline) => {
      for (let n = 0; n < SLICE_ENTRIES; n++) {
        if ((n & 63) === 63 && performance.now() >= deadline) return false;
        const next = entries.next();
        if (next.done === true) return true;
        const entry = next.value;
        if (entry.banChecked < upTo && this.bans.check(entry)) this.remove(entry);
      }
      return false;
    }).then(() => {
      this.bans.retire(upTo);
      this.running = null;
      if (this.bans.size === 0) this.stop();
    });
    this.running = sweep;
    this.runningUpTo = upTo;
    return sweep;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
