/**
 * TLS session ticket keys that rotate, shared by every worker without messages between them.
 *
 * A ticket is the session state encrypted under a server key; whoever holds the key resumes the session
 * (an abbreviated handshake, no certificate signature). Keys must be shared by all workers (any worker
 * may get the resumed connection) and must change now and then (whoever steals a key can decrypt the
 * recorded traffic of every session whose ticket it protected, until it changes), while tickets issued
 * just before a change should still work (nginx takes several key files, Caddy keeps the previous keys).
 *
 * Here each key is derived from a secret seed (made once by the primary, handed to every worker) and the
 * number of the rotation period it belongs to: HKDF-SHA256(seed, period) → 16 bytes of name, 16 of HMAC
 * key, 16 of AES key. Every worker computes the same key for the same period from its own clock, so they
 * rotate together. New tickets are encrypted under the current period's key; a ticket under the previous
 * period's key is still accepted and replaced by a fresh one (OpenSSL's "renew"), anything older gives a
 * full handshake. So a key protects new tickets for one period and is forgotten after two.
 *
 * Node's public API holds one ticket key per context (`ticketKeys`), which cannot accept the previous
 * key. The rotation uses the OpenSSL ticket key callback that Node has built in but does not document
 * (`context.enableTicketKeyCallback()` and `context.onticketkeycallback`): feature-detected, and when it
 * is not there, contexts keep the first period's key for good (resumption still works; keys rotate on
 * restart only).
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import type tls from 'node:tls';

const PART = 16;
const ZERO = Buffer.alloc(PART);

interface Key {
  readonly period: number;
  readonly name: Buffer;
  readonly hmac: Buffer;
  readonly aes: Buffer;
}

/** Node's native context object behind `tls.SecureContext` (the part the ticket callback needs). */
interface NativeContext {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, encrypt: boolean) => unknown[];
}

/** The rotating ticket keys of one configuration (one per worker, all derived from the same seed). */
export class TicketKeys {
  private readonly seed: Buffer;
  /** Length of a period in ms; 0: one key for the whole run. */
  readonly rotateMs: number;
  private readonly now: () => number;
  /** The keys of the current and the previous period (derived on first use). */
  private current: Key;
  private previous: Key;

  /** `seed`: 32+ secret bytes shared by the workers; `now`: the clock (ms), a hook for tests. */
  constructor(seed: Uint8Array, rotateMs: number, now: () => number = Date.now) {
    this.seed = Buffer.from(seed);
    this.rotateMs = rotateMs;
    this.now = now;
    this.current = this.derive(this.period());
    this.previous = this.derive(this.current.period - 1);
  }

  /** The 48 bytes of the current key, in the layout of Node's `ticketKeys` option (name, HMAC, AES). */
  currentKey(): Buffer {
    const key = this.keyOf(this.period());
    return Buffer.concat([key.name, key.hmac, key.aes]);
  }

  /**
   * Make `context` encrypt tickets under the current key and accept the previous one. False when this
   * Node has no ticket key callback: the context keeps the key it was made with.
   */
  install(context: tls.SecureContext): boolean {
    const native = (context as tls.SecureContext & { context?: NativeContext }).context;
    if (native === undefined || typeof native.enableTicketKeyCallback !== 'function') return false;
    native.onticketkeycallback = this.callback;
    native.enableTicketKeyCallback();
    return true;
  }

  /**
   * OpenSSL's ticket key callback as Node calls it: for a new ticket, [1, hmac, aes, name, iv]; for a
   * ticket to decrypt, [1 (current key), 2 (previous key: accept and issue a new ticket) or 0 (unknown:
   * full handshake), hmac, aes]. Node reads the buffers whatever the verdict, so they are always there;
   * and it must never throw (a throw inside a handshake ends the process).
   */
  readonly callback = (name: Buffer, _iv: Buffer, encrypt: boolean): unknown[] => {
    try {
      const period = this.period();
      const current = this.keyOf(period);
      if (encrypt) return [1, current.hmac, current.aes, current.name, randomBytes(PART)];
      if (name.equals(current.name)) return [1, current.hmac, current.aes];
      const previous = this.keyOf(period - 1);
      if (name.equals(previous.name)) return [2, previous.hmac, previous.aes];
    } catch {
      // Unknown below: a full handshake.
    }
    return [0, ZERO, ZERO];
  };

  private period(): number {
    return this.rotateMs > 0 ? Math.floor(this.now() / this.rotateMs) : 0;
  }

  /** The key of `period`, derived once per period (two kept: current and previous). */
  private keyOf(period: number): Key {
    if (this.current.period === period) return this.current;
    if (this.previous.period === period) return this.previous;
    const key = this.derive(period);
    if (period > this.current.period) {
      this.previous = period === this.current.period + 1 ? this.current : this.derive(period - 1);
      this.current = key;
    }
    return key;
  }

  private derive(period: number): Key {
    const info = Buffer.alloc(8);
    info.writeDoubleBE(period);
    const bytes = Buffer.from(hkdfSync('sha256', this.seed, 'tamarin tls session tickets', info, 3 * PART));
    return {
      period,
      name: bytes.subarray(0, PART),
      hmac: bytes.subarray(PART, 2 * PART),
      aes: bytes.subarray(2 * PART),
    };
  }
}
