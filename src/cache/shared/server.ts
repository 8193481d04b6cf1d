/**
 * The shared cache on the server's side: the primary creates the arena and its owner once, before any
 * worker starts (the cache plugin's `share`), and hands every worker thread the buffer and a message port
 * to the owner (a worker in the primary's own thread calls the owner directly: the same code path). The
 * arena outlives workers and reloads: a restarted worker maps the same buffer and finds the cache intact;
 * the pins a dead worker left are dropped when its thread exits.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { PrimaryShare } from '../../server/plugin.ts';
import { createPolicy } from '../policies/index.ts';
import type { PolicyName } from '../policy.ts';
import {
  directLink,
  type OwnerLink,
  type OwnerRequest,
  portLink,
  SharedStoreClient,
  serveOwnerBatch,
} from './client.ts';
import { createSharedBuffer, defaultEntrySlots } from './layout.ts';
import { SharedStoreOwner } from './owner.ts';

/** The `[cache]` settings the arena was made with (a reload cannot change them). */
export interface SharedCacheSettings {
  readonly maxSize: number;
  readonly maxEntries: number | null;
  readonly policy: PolicyName;
}

/** The `[cache]` options the shared store depends on. */
export interface SharedCacheOptions {
  readonly enabled: boolean;
  readonly max_size: number;
  readonly max_entries?: number | undefined;
  readonly policy: PolicyName;
}

/** A worker's part: the arena, its way to the owner, and the settings it was made with. */
interface SharedCachePart {
  readonly buffer: SharedArrayBuffer;
  readonly settings: SharedCacheSettings;
  /** In a worker thread: its end of the owner's channel. */
  readonly port?: MessagePort;
  /** In the primary's thread: the owner itself. */
  readonly link?: OwnerLink;
}

/**
 * Whether the server runs the shared store: whenever the cache is enabled. Static files, the proxy's
 * RFC 9111 entries (routes with `cache`, through `CACHE_STORE`) and purges all use it.
 */
export function usesSharedStore(options: SharedCacheOptions): boolean {
  return options.enabled;
}

export function settingsOf(options: SharedCacheOptions): SharedCacheSettings {
  return { maxSize: options.max_size, maxEntries: options.max_entries ?? null, policy: options.policy };
}

/** The primary's side: the arena, its owner, one channel per worker thread. */
export class SharedCacheHost implements PrimaryShare {
  readonly buffer: SharedArrayBuffer;
  readonly owner: SharedStoreOwner;
  readonly settings: SharedCacheSettings;
  private readonly ports = new Map<number, MessagePort>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: SharedCacheOptions, workers: number) {
    this.settings = settingsOf(options);
    this.buffer = createSharedBuffer({
      maxBytes: options.max_size,
      maxEntries: options.max_entries ?? defaultEntrySlots(options.max_size),
      workers,
    });
    this.owner = new SharedStoreOwner(this.buffer, { createPolicy: (o) => createPolicy(options.policy, o) });
    this.sweeper = setInterval(() => this.owner.sweep(Date.now()), 1000);
    this.sweeper.unref();
  }

  local(): SharedCachePart {
    return { buffer: this.buffer, settings: this.settings, link: directLink(this.owner) };
  }

  /** A new channel for worker `id` (its previous one, if any, is closed); the port is transferred. */
  connect(id: number): { value: SharedCachePart; transfer: MessagePort[] } {
    this.ports.get(id)?.close();
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (requests: OwnerRequest[]) => {
      port1.postMessage(serveOwnerBatch(this.owner, requests));
    });
    port1.unref();
    this.ports.set(id, port1);
    return { value: { buffer: this.buffer, settings: this.settings, port: port2 }, transfer: [port2] };
  }

  /** Worker `id`'s thread is gone: its pins and hit ring are dropped. */
  workerGone(id: number): void {
    this.owner.resetWorker(id);
  }

  close(): void {
    clearInterval(this.sweeper);
    this.owner.close();
    for (const port of this.ports.values()) port.close();
    this.ports.clear();
  }
}

/** One client per part: every cache instance of a worker (reloads included) uses the same one. */
const clients = new WeakMap<object, { client: SharedStoreClient; settings: SharedCacheSettings }>();

/**
 * This worker's client of the shared store, from its part of the share (`context.shared`); null when
 * there is none. The same client for every call with the same part: the port to the owner is listened to
 * once, and a reloaded cache keeps the decoded entries of the one it replaces.
 */
export function sharedClientOf(
  part: unknown,
  workerId: number,
): { client: SharedStoreClient; settings: SharedCacheSettings } | null {
  if (typeof part !== 'object' || part === null) return null;
  const known = clients.get(part);
  if (known !== undefined) return known;
  const { buffer, settings, port, link } = part as SharedCachePart;
  if (!(buffer instanceof SharedArrayBuffer)) return null;
  const owner = link ?? (port === undefined ? null : portLink(port));
  if (owner === null) return null;
  const made = { client: new SharedStoreClient(buffer, workerId, owner), settings };
  clients.set(part, made);
  return made;
}
