/**
 * Request collapsing: concurrent misses for one key send one request upstream. The first miss leads; the
 * others wait (bounded) and then look in the store again: served from the stored response when it was
 * storable, or sent upstream each on their own when it was not (a private answer is never shared) or
 * when the wait ran out.
 *
 * After a leader's response turned out not storable, the key is "pass" for a while (Varnish's
 * hit-for-miss): later concurrent misses go upstream at once instead of queueing behind each other.
 */

/** How a wait ended: the leader finished (look again), or the bounded wait ran out. */
export type WaitResult = 'done' | 'timeout';

interface Flight {
  waiters: Array<(result: WaitResult) => void>;
}

const PASS_MAX = 10_000;

export class Collapser {
  private readonly flights = new Map<string, Flight>();
  private readonly pass = new Map<string, number>();
  private readonly timeoutMs: number;
  private readonly passMs: number;

  /**
   * @param timeoutMs longest a waiter waits for the leader
   * @param passMs how long a key whose response was not storable is not collapsed
   */
  constructor(timeoutMs: number, passMs: number) {
    this.timeoutMs = timeoutMs;
    this.passMs = passMs;
  }

  /** In-flight keys (for tests and stats). */
  get size(): number {
    return this.flights.size;
  }

  /**
   * Take the lead for `key` (true), or learn that someone else has it (false: call `wait`). Keys marked
   * "pass" never lead nor wait: returns true, and nothing is recorded (`finish` is then a no-op).
   */
  lead(key: string, now: number): boolean {
    if (this.flights.has(key)) return false;
    const until = this.pass.get(key);
    if (until !== undefined) {
      if (now < until) return true;
      this.pass.delete(key);
    }
    this.flights.set(key, { waiters: [] });
    return true;
  }

  /** Wait for the leader of `key` (bounded). */
  wait(key: string): Promise<WaitResult> {
    const flight = this.flights.get(key);
    if (flight === undefined) return Promise.resolve('done');
    return new Promise<WaitResult>((resolve) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        const i = flight.waiters.indexOf(wake);
        if (i !== -1) flight.waiters.splice(i, 1);
        resolve('timeout');
      }, this.timeoutMs);
      timer.unref();
      const wake = (result: WaitResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      flight.waiters.push(wake);
    });
  }

  /** The leader is done; `storable` false marks the key "pass". Wakes every waiter. */
  finish(key: string, storable: boolean, now: number): void {
    const flight = this.flights.get(key);
    if (flight === undefined) return;
    this.flights.delete(key);
    if (!storable && this.passMs > 0) {
      if (this.pass.size >= PASS_MAX) this.pass.clear();
      this.pass.set(key, now + this.passMs);
    }
    for (const wake of flight.waiters) wake('done');
  }

  /** Wake everyone (shutdown). */
  clear(): void {
    for (const [key] of this.flights) this.finish(key, true, 0);
    this.pass.clear();
  }
}
