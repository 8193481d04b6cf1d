/**
 * Benchmark fixtures: the files each static scenario serves, generated into the run's temp dir (random
 * bytes, so no contender can win by compressing).
 */
import { randomFillSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchTarget } from './harness.ts';

/** The three file sizes of the static scenarios. */
export const STATIC_FILES = [
  { label: '1 KiB', name: '1k.bin', bytes: 1024 },
  { label: '64 KiB', name: '64k.bin', bytes: 64 * 1024 },
  { label: '1 MiB', name: '1m.bin', bytes: 1024 * 1024 },
] as const;

/** Writes the static files into `<dir>` (created) and returns them as targets. */
export function writeStaticFixtures(dir: string): BenchTarget[] {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><title>bench</title><p>Tamarin benchmark fixtures.\n',
  );
  return STATIC_FILES.map((file) => {
    writeFileSync(join(dir, file.name), randomFillSync(Buffer.alloc(file.bytes)));
    return { label: file.label, path: `/${file.name}`, bytes: file.bytes };
  });
}

/** Writes `count` distinct files of `bytes` each as `<dir>/m<i>.bin` (cache-memory scenario). */
export function writeManyFiles(dir: string, count: number, bytes: number): string[] {
  mkdirSync(dir, { recursive: true });
  const body = randomFillSync(Buffer.alloc(bytes));
  const paths: string[] = [];
  for (let i = 0; i < count; i++) {
    body.writeUInt32BE(i, 0); // distinct content as well as distinct names
    writeFileSync(join(dir, `m${i}.bin`), body);
    paths.push(`/m${i}.bin`);
  }
  return paths;
}
