/**
 * Single flight: concurrent misses for one key produce one response. The first miss leads; the others
 * wait (bounded) and then look in the store again: served from what the leader stored, or produced each
 * on their own when it stored nothing (a private answer is never shared) or when the wait ran out. One
 * mechanism for every producer in the store: the content cache's file misses and the proxy's RFC 9111
 * cache (misses and validations), as Varnish has one waiting list for every lookup.
 *
 * The wait is bounded per flight: `timeoutMs` after its first waiter the flight ends, its waiters go on
 * by themselves and the key is free (the next miss leads again, rather than queueing behind a leader that
 * hangs). After a leader's response turned out not storable the key may be "pass" for a while (Varnish's
 * hit-for-miss): later concurrent misses go on at once instead of queueing behind each other.
 */

/** How a wait ended: the leader finished (look again), or the bounded wait ran out. */
export type WaitResult = 'done' | 'timeout';

interface Flight {
  /** Who leads (a response, a request): only the leader finishes its own flight. */
  readonly leader: unknown;
  readonly waiters: Array<(result: WaitResult) => void>;
  timer: NodeJS.Timeout | null;
}

const PASS_MAX = 10_000;

export class SingleFlight {
  private readonly flights = new Map<string, Flight>();
  private readonly pass = new Map<string, number>();
  private readonly timeoutMs: number;
  private readonly passMs: number;

  /**
   * @param timeoutMs longest a flight's waiters wait for its leader
   * @param passMs how long a key whose response was not storable is not collapsed (0: never)
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
   * @param leader who leads: `finish` with another leader leaves this flight alone
   */
  lead(key: string, now: number, leader: unknown = null): boolean {
    if (this.flights.has(key)) return false;
    const until = this.pass.get(key);
    if (until !== undefined) {
      if (now < until) return true;
      this.pass.delete(key);
    }
    this.flights.set(key, { leader, waiters: [], timer: null });
    return true;
  }

  /** Whether `leader` leads the flight of `key`. */
  leads(key: string, leader: unknown): boolean {
    return this.flights.get(key)?.leader === leader;
  }

  /** Wait for the leader of `key` (bounded: see the file's comment). */
  wait(key: string): Promise<WaitResult> {
    const flight = this.flights.get(key);
    if (flight === undefined) return Promise.resolve('done');
    if (flight.timer === null) {
      flight.timer = setTimeout(() => this.end(key, flight, 'timeout'), this.timeoutMs);
      flight.timer.unref();
    }
    return new Promise<WaitResult>((resolve) => flight.waiters.push(resolve));
  }

  /**
   * The leader is done; `storable` false marks the key "pass". Wakes every waiter. With `leader` given,
   * only that leader's flight is finished (a flight that timed out may have a new leader by now).
   */
  finish(key: string, storable: boolean, now: number, leader?: unknown): void {
    const flight = this.flights.get(key);
    if (flight === undefined || (leader !== undefined && flight.leader !== leader)) return;
    if (!storable && this.passMs > 0) {
      if (this.pass.size >= PASS_MAX) this.pass.clear();
      this.pass.set(key, now + this.passMs);
    }
    this.end(key, flight, 'done');
  }

  private end(key: string, flight: Flight, result: WaitResult): void {
    if (this.flights.get(key) === flight) this.flights.delete(key);
    if (flight.timer !== null) clearTimeout(flight.timer);
    const waiters = flight.waiters.splice(0);
    for (const wake of waiters) wake(result);
  }

  /** Wake everyone (shutdown). */
  clear(): void {
    for (const [key, flight] of this.flights) this.end(key, flight, 'done');
    this.pass.clear();
  }
}
