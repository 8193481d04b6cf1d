import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { capacityFor, parseSizeSpec, replay, runSim } from './sim.ts';
import { loadTrace } from './trace.ts';

const dir = mkdtempSync(join(tmpdir(), 'tamarin-sim-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string, gzip = false): string {
  const path = join(dir, name);
  writeFileSync(path, gzip ? gzipSync(text) : text);
  return path;
}

async function sim(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runSim(argv, {
    stdout: { write: (text: string) => (out += text) },
    stderr: { write: (text: string) => (err += text) },
  });
  return { code, out, err };
}

// a b a c a b with room for 2 keys: LRU hits the 2nd and 3rd a only; so does LFU (c evicts b, b evicts c).
const ABACAB = 'a 1\nb 1\na 1\nc 1\na 1\nb 1\n';

describe('tamarin sim', () => {
  it('counts hits on a tiny trace exactly, gzipped or not', async () => {
    for (const path of [file('abacab.tr', ABACAB), file('abacab.tr.gz', ABACAB, true)]) {
      const trace = await loadTrace(path);
      assert.deepEqual([trace.uniqueKeys, trace.uniqueBytes, trace.unitSizes], [3, 3, true]);
      for (const policy of ['lru', 'lfu'] as const) {
        const result = replay(trace, policy, Number.POSITIVE_INFINITY, 2);
        assert.deepEqual([result.requests, result.hits], [6, 2], policy);
      }
      const { code, out } = await sim([path, '--policy', 'lru,lfu', '--size', '2']);
      assert.equal(code, 0);
      assert.match(out, /\| abacab \| 2 \| 2 keys \| \*\*33\.33\*\* \| \*\*33\.33\*\* \|/);
    }
  });

  it('weighs byte hits by size on a byte-bounded trace', async () => {
    // x y x x y in 350 bytes under LRU: y pushes x out and back; only the 4th request (x) hits.
    const path = file('sized.tr', 'x 100\ny 300\nx 100\nx 100\ny 300\n');
    const trace = await loadTrace(path);
    assert.equal(trace.unitSizes, false);
    const result = replay(trace, 'lru', 350, Number.POSITIVE_INFINITY);
    assert.deepEqual([result.hits, result.hitBytes, result.bytes], [1, 100, 900]);
    const { out } = await sim([path, '--policy', 'lru', '--size', '350B']);
    assert.match(out, /Request hit ratio[\s\S]*\| sized \| 350B \| 0\.3 KiB \| 20\.00 \|/);
    assert.match(out, /Byte hit ratio[\s\S]*\| sized \| 350B \| 0\.3 KiB \| 11\.11 \|/);
  });

  it('reads sizes as a share of unique keys or bytes, bytes, or entries', async () => {
    const unit = await loadTrace(file('unit.tr', ABACAB));
    const sized = await loadTrace(file('sized2.tr', 'x 100\ny 300\n'));
    const inf = Number.POSITIVE_INFINITY;
    assert.deepEqual(capacityFor(parseSizeSpec('50%')!, unit), { maxBytes: inf, maxEntries: 2 });
    assert.deepEqual(capacityFor(parseSizeSpec('50%')!, sized), { maxBytes: 200, maxEntries: inf });
    assert.deepEqual(capacityFor(parseSizeSpec('64MiB')!, unit), {
      maxBytes: 64 * 1024 ** 2,
      maxEntries: inf,
    });
    assert.deepEqual(capacityFor(parseSizeSpec('1000')!, sized), { maxBytes: inf, maxEntries: 1000 });
    for (const bad of ['0%', '101%', '-5', '0', '12 parsecs', ''])
      assert.equal(parseSizeSpec(bad), undefined, bad);
  });

  it('prints a mean row when given several traces', async () => {
    const { code, out } = await sim([
      file('t1.tr', ABACAB),
      file('t2.tr', 'a 1\na 1\n'),
      '--policy',
      'lru',
      '--size',
      '1',
    ]);
    assert.equal(code, 0);
    // With one entry, a b a c a b never hits (0%) and a a hits once (50%): the mean is 25%.
    assert.match(out, /\| \*\*mean\*\* \| 1 \| {2}\| 25\.00 \|/);
  });

  it('prints the gap of each policy to the best fixed policy, with mean, largest and below-LRU rows', async () => {
    const { code, out } = await sim([file('gaps.tr', ABACAB), '--policy', 'lru,adaptive', '--size', '2']);
    assert.equal(code, 0);
    assert.match(out, /Gap to the best fixed policy/);
    // LRU is the only fixed policy here, so it is the best (gap 0); adaptive's gap is LRU minus adaptive.
    const row = /\| gaps \| 2 \| lru \| 0\.00 \| (-?\d+\.\d\d) \|/.exec(out);
    assert.ok(row, out);
    assert.match(out, /\| \*\*mean gap\*\* \| \| \| 0\.00 \| -?\d+\.\d\d \|/);
    assert.match(out, /\| \*\*largest gap\*\* \|/);
    const belowLru = out.split('\n').find((line) => line.startsWith('| **most below lru** |'));
    assert.equal(belowLru, `| **most below lru** | | | 0.00 | ${row[1]} |`);
  });

  it('fails clearly on bad input', async () => {
    const badLine = await sim([file('bad.tr', 'a 1\nb 1\nc lots\n')]);
    assert.equal(badLine.code, 1);
    assert.match(badLine.err, /bad\.tr:3: expected "key size"/);
    const missing = await sim([join(dir, 'nope.tr')]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /cannot open trace/);
    const directory = await sim([dir]);
    assert.equal(directory.code, 1);
    assert.match(directory.err, /cannot read trace .*EISDIR/);
    const wellFormed = await sim([file('corrupt.tr.gz', 'a 1\n'.repeat(1000), true)]);
    assert.equal(wellFormed.code, 0);
    writeFileSync(join(dir, 'corrupt.tr.gz'), Buffer.from([0x1f, 0x8b, 1, 2, 3]));
    const truncated = await sim([join(dir, 'corrupt.tr.gz')]);
    assert.equal(truncated.code, 1);
    assert.match(truncated.err, /cannot read trace .*corrupt\.tr\.gz/);
    const empty = await sim([file('empty.tr', '\n# nothing\n')]);
    assert.equal(empty.code, 1);
    assert.match(empty.err, /has no requests/);
    const policy = await sim([file('ok.tr', ABACAB), '--policy', 'clock']);
    assert.equal(policy.code, 2);
    assert.match(policy.err, /unknown policy "clock"/);
    const size = await sim([file('ok2.tr', ABACAB), '--size', 'lots']);
    assert.equal(size.code, 2);
    assert.match(size.err, /bad --size "lots"/);
    assert.equal((await sim([])).code, 2);
  });
});
