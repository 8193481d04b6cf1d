/**
 * The pieces of the cache-workers-hits scenario (also used by test/cache-shared-replay.test.ts): a trace
 * prefix turned into files, replayed through a real server one request per fresh connection (so the
 * kernel spreads them over the workers), and the same prefix replayed by `tamarin sim`'s `replay` with
 * the server's exact bounds and charges.
 */
import { randomFillSync } from 'node:crypto';
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { PolicyName } from '../../src/cache/policy.ts';
import { replay } from '../../src/cache/sim.ts';
import { readTrace } from '../../src/cache/trace.ts';

/** A trace prefix mapped onto files. */
export interface ReplayFiles {
  /** The URL path of every request, in trace order. */
  readonly paths: string[];
  /** Distinct paths. */
  readonly unique: number;
  /** Body size of every file. */
  readonly bytes: number;
}

/** The first `requests` requests of `tracePath` (fewer when the trace is shorter). */
export async function tracePrefix(tracePath: string, requests: number): Promise<string[]> {
  const keys: string[] = [];
  for await (const { key } of readTrace(tracePath)) {
    keys.push(key);
    if (keys.length >= requests) break;
  }
  return keys;
}

/**
 * Writes one file per distinct key into `dir`: fixed-width names, `bytes` random bytes each, one fixed
 * mtime, so every entry costs the cache the same bytes (the sim replays with one size for all).
 */
export function writeReplayFiles(dir: string, keys: readonly string[], bytes: number): ReplayFiles {
  mkdirSync(dir, { recursive: true });
  const ids = new Map<string, number>();
  for (const key of keys) if (!ids.has(key)) ids.set(key, ids.size);
  const width = String(ids.size).length;
  const name = (id: number) => `k${String(id).padStart(width, '0')}.bin`;
  const body = randomFillSync(Buffer.alloc(bytes));
  const mtime = new Date('2026-01-01T00:00:00Z');
  for (const id of ids.values()) {
    body.writeUInt32BE(id, 0);
    const file = join(dir, name(id));
    writeFileSync(file, body);
    utimesSync(file, mtime, mtime);
  }
  return { paths: keys.map((key) => `/${name(ids.get(key)!)}`), unique: ids.size, bytes };
}

/** One GET on a fresh connection with `Connection: close`; resolves with the status and body length. */
export function getFresh(
  port: number,
  path: string,
  timeoutMs = 10_000,
): Promise<{ status: number; body: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`timeout on ${path}`)));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => {
      const data = Buffer.concat(chunks);
      const end = data.indexOf('\r\n\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data.toString('latin1', 0, 12))?.[1] ?? 0);
      resolve({ status, body: end < 0 ? 0 : data.length - end - 4 });
    });
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n`);
  });
}

/** Replays `paths` in order, one at a time; returns how many answered 200 with `bytes` bytes. */
export async function replayOverFreshConnections(
  port: number,
  paths: readonly string[],
  bytes: number,
): Promise<number> {
  let ok = 0;
  for (const path of paths) {
    const res = await getFresh(port, path);
    if (res.status === 200 && res.body === bytes) ok++;
  }
  return ok;
}

/** The counters of the server's cache the comparison needs (summed over workers). */
export interface ServerCounters {
  hits: number;
  misses: number;
  /** Bodies read from disk for the cache (the static plugin answered a miss). */
  originFetches: number;
  collapsed: number;
  entries: number;
  bytes: number;
}

/** The same requests through `tamarin sim`'s replay with the server's bounds and per-entry charge. */
export function simulate(
  paths: readonly string[],
  policy: PolicyName,
  maxBytes: number,
  maxEntries: number,
  entryBytes: number,
): { hits: number; misses: number } {
  const sizes = new Float64Array(paths.length).fill(entryBytes);
  const unique = new Set(paths).size;
  const result = replay(
    {
      keys: [...paths],
      sizes,
      uniqueKeys: unique,
      uniqueBytes: unique * entryBytes,
      unitSizes: false,
    },
    policy,
    maxBytes,
    maxEntries,
  );
  return { hits: result.hits, misses: result.requests - result.hits };
}
