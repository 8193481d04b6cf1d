/**
 * Reads cache traces: text with one request per line, `key size` (size in bytes; a missing size means 1),
 * plain or gzip-compressed (detected from the magic bytes, not the file name). Streams, so a trace larger
 * than memory can still be replayed request by request with `readTrace`; `loadTrace` keeps one in memory
 * to replay it against several policies and capacities.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

/** One request of a trace. */
export interface TraceRequest {
  key: string;
  size: number;
}

/** A trace held in memory, with the totals capacities are expressed against. */
export interface Trace {
  keys: string[];
  sizes: Float64Array;
  /** Number of distinct keys. */
  uniqueKeys: number;
  /** Sum of the sizes of distinct keys. */
  uniqueBytes: number;
  /** Whether every request has size 1 (a trace without sizes: replay it count-bounded). */
  unitSizes: boolean;
}

/** Thrown for a trace that cannot be read or parsed; the message names the file and line. */
export class TraceError extends Error {
  override name = 'TraceError';
}

async function isGzip(path: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new TraceError(`cannot open trace ${path}: ${(error as Error).message}`);
  }
  try {
    const magic = Buffer.alloc(2);
    const { bytesRead } = await handle.read(magic, 0, 2, 0);
    return bytesRead === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  } catch (error) {
    throw new TraceError(`cannot read trace ${path}: ${(error as Error).message}`);
  } finally {
    await handle.close();
  }
}

/** Yields the requests of the trace at `path` in order. */
export async function* readTrace(path: string): AsyncGenerator<TraceRequest> {
  const gzip = await isGzip(path);
  const file = createReadStream(path);
  const input: Readable = gzip ? file.pipe(createGunzip()) : file;
  let failure: Error | undefined;
  file.on('error', (error) => {
    failure = error;
    input.destroy(error);
  });
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let lineNumber = 0;
  try {
    for await (const line of lines) {
      lineNumber++;
      const request = parseLine(line, path, lineNumber);
      if (request) yield request;
    }
  } catch (error) {
    if (error instanceof TraceError) throw error;
    throw new TraceError(`cannot read trace ${path}: ${(failure ?? (error as Error)).message}`);
  } finally {
    lines.close();
    file.destroy();
  }
}

/** Parses one trace line; `undefined` for a blank line or a `#` comment. */
export function parseLine(line: string, path: string, lineNumber: number): TraceRequest | undefined {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  const space = text.search(/\s/);
  if (space < 0) return { key: text, size: 1 };
  const key = text.slice(0, space);
  const sizeText = text.slice(space).trim();
  if (!/^\d+$/.test(sizeText)) {
    throw new TraceError(
      `${path}:${lineNumber}: expected "key size" with a whole number of bytes, got "${line}"`,
    );
  }
  return { key, size: Number(sizeText) };
}

/** Reads a whole trace into memory (keys, sizes) and counts its unique keys and bytes. */
export async function loadTrace(path: string): Promise<Trace> {
  const keys: string[] = [];
  let sizes = new Float64Array(1 << 16);
  const seen = new Set<string>();
  let uniqueBytes = 0;
  let unitSizes = true;
  for await (const { key, size } of readTrace(path)) {
    if (keys.length === sizes.length) {
      const grown = new Float64Array(sizes.length * 2);
      grown.set(sizes);
      sizes = grown;
    }
    sizes[keys.length] = size;
    keys.push(key);
    if (size !== 1) unitSizes = false;
    if (!seen.has(key)) {
      seen.add(key);
      uniqueBytes += size;
    }
  }
  if (keys.length === 0) throw new TraceError(`trace ${path} has no requests`);
  return { keys, sizes: sizes.subarray(0, keys.length), uniqueKeys: seen.size, uniqueBytes, unitSizes };
}
