/**
 * Writes the synthetic traces of `src/cache/trace-gen.ts` as gzip trace files for `tamarin sim`:
 *
 *   node bench/traces/generate.ts <dir> [shape...] [--seed 1]
 *
 * With no shape, writes every shape. Deterministic: the same seed writes the same bytes.
 */
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { createGzip } from 'node:zlib';
import { generate, SHAPES, traceLines } from '../../src/cache/trace-gen.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { seed: { type: 'string', default: '1' } },
});
const [dir, ...shapes] = positionals;
if (dir === undefined) {
  console.error(
    `usage: node bench/traces/generate.ts <dir> [shape...] [--seed 1]\nshapes: ${Object.keys(SHAPES).join(', ')}`,
  );
  process.exit(2);
}
await mkdir(dir, { recursive: true });
for (const shape of shapes.length > 0 ? shapes : Object.keys(SHAPES)) {
  const trace = generate(shape, Number(values.seed));
  const path = join(dir, `gen_${shape}.tr.gz`);
  await pipeline(Readable.from(traceLines(trace)), createGzip(), createWriteStream(path));
  console.log(`${path}: ${SHAPES[shape]}`);
}
