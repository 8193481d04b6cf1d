/**
 * The shared cache on the server's side: the primary creates the arena and its owner once, before any
 * worker starts, and hands every worker thread the buffer and a message port to the owner (with one
 * worker or none, the same code path). The arena outlives workers: a restarted worker maps the same
 * buffer and finds the cache intact; the pins a dead worker left are dropped when its thread exits.
 */
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { ResolvedConfig } from '../../server/config.ts';
import type { CacheOptions } from '../plugin.ts';
import { createPolicy } from '../policies/index.ts';
import { directLink, type OwnerLink, type OwnerRequest, serveOwnerRequest } from './client.ts';
import { createSharedBuffer, defaultEntrySlots } from './layout.ts';
import { SharedStoreOwner } from './owner.ts';

/** What a worker's cache plugin receives: the arena and its way to the owner. */
export interface SharedCacheHandle {
  readonly buffer: SharedArrayBuffer;
  readonly link: OwnerLink;
}

/** What crosses into a worker thread (`workerData`): the buffer and its end of the owner's channel. */
export interface SharedCacheTransfer {
  readonly buffer: SharedArrayBuffer;
  readonly port: MessagePort;
}

/**
 * Whether the server runs the shared store: the `cache` plugin is enabled. Proxied responses (routes with
 * `cache`, or the PURGE method) still use the per-worker store, and then static files do too, so that one
 * budget keeps covering both (see docs/cache.md, "Shared store").
 */
export function sharedCacheOptions(resolved: ResolvedConfig): CacheOptions | null {
  const entry = resolved.plugins.find((p) => p.name === 'cache' && p.enabled);
  if (entry === undefined) return null;
  const options = entry.options as CacheOptions;
  if (!options.enabled || options.purge_method.enabled) return null;
  const proxy = resolved.config.proxy as { routes?: Array<{ cache?: unknown }> } | undefined;
  if (proxy?.routes?.some((route) => route.cache !== undefined && route.cache !== false)) return null;
  return options;
}

/** The primary's side: the arena, its owner, one channel per worker. */
export class SharedCacheHost {
  readonly buffer: SharedArrayBuffer;
  readonly owner: SharedStoreOwner;
  private readonly ports = new Map<number, MessagePort>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: CacheOptions, workers: number) {
    this.buffer = createSharedBuffer({
      maxBytes: options.max_size,
      maxEntries: options.max_entries ?? defaultEntrySlots(options.max_size),
      workers,
    });
    this.owner = new SharedStoreOwner(this.buffer, { createPolicy: (o) => createPolicy(options.policy, o) });
    this.sweeper = setInterval(() => this.owner.sweep(Date.now()), 1000);
    this.sweeper.unref();
  }

  /** A handle for a worker running in this very thread. */
  local(): SharedCacheHandle {
    return { buffer: this.buffer, link: directLink(this.owner) };
  }

  /** A new channel for worker `id` (its previous one, if any, is closed); transfer the returned port. */
  connect(id: number): SharedCacheTransfer {
    this.ports.get(id)?.close();
    const { port1, port2 } = new MessageChannel();
    port1.on('message', (request: OwnerRequest) => {
      let reply: { id: number; result?: unknown; error?: string };
      try {
        reply = { id: request.id, result: serveOwnerRequest(this.owner, request) };
      } catch (error) {
        reply = { id: request.id, error: (error as Error).message };
      }
      port1.postMessage(reply);
    });
    port1.unref();
    this.ports.set(id, port1);
    return { buffer: this.buffer, port: port2 };
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
