/**
 * `GET /metrics` of a real server (cache, proxy with a dead backend, static; two workers) is valid
 * Prometheus text: the checks of `promtool check metrics` that a scrape setup trips over, built in (a
 * `_total` name only on counters, every counter ending in `_total`, HELP and TYPE before the samples, each
 * sample in a declared family), and `promtool check metrics` itself when it is installed (Debian's
 * `prometheus` package ships it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';

const TOKEN = 'test-token-0123456789abcdef';

/** Problems in a text exposition (format 0.0.4), one line each; empty when it is clean. */
export function lintExposition(text: string): string[] {
  const problems: string[] = [];
  const types = new Map<string, string>();
  const helped = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (kind === 'HELP') {
        if (rest.trim() === '') problems.push(`${name}: empty HELP`);
        helped.add(name);
        continue;
      }
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest)) {
        problems.push(`${name}: unknown type "${rest}"`);
      }
      if (types.has(name)) problems.push(`${name}: TYPE given twice`);
      types.set(name, rest);
      if (rest !== 'counter' && name.endsWith('_total')) {
        problems.push(`${name}: a ${rest} must not end in "_total" (the suffix promises a counter)`);
      }
      if (rest === 'counter' && !name.endsWith('_total'))
        problems.push(`${name}: a counter must end in "_total"`);
      if (!helped.has(name)) problems.push(`${name}: no HELP before TYPE`);
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)( \d+)?$/.exec(line);
    if (!sample) {
      problems.push(`not a sample line: ${line}`);
      continue;
    }
    const name = sample[1]!;
    const family =
      types.get(name) !== undefined
        ? name
        : name.replace(/_(bucket|sum|count)$/, '') !== name &&
            types.has(name.replace(/_(bucket|sum|count)$/, ''))
          ? name.replace(/_(bucket|sum|count)$/, '')
          : undefined;
    if (family === undefined) problems.push(`${name}: sample without a TYPE line`);
    if (Number.isNaN(Number(sample[3])) && !['NaN', '+Inf', '-Inf'].includes(sample[3]!)) {
      problems.push(`${name}: value "${sample[3]}" is not a number`);
    }
  }
  return problems;
}

/** promtool from PATH, or null. */
function promtool(): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, 'promtool');
    if (dir !== '' && fs.existsSync(file)) return file;
  }
  return null;
}

describe('GET /metrics is valid Prometheus text', () => {
  let server: RunningServer;
  let text = '';
  before(async () => {
    setLogSink(() => {});
    server = await startServer({
      config: {
        plugins: ['cache', 'proxy', 'static'],
        server: { port: 0, workers: 2 },
        static: { root: path.resolve('test/fixtures/static') },
        proxy: { routes: [{ match: '^/api/', backends: ['http://127.0.0.1:1'], cache: true }] },
        admin: { port: 0, token: TOKEN },
      },
    });
    for (const target of ['/index.html', '/index.html', '/api/x', '/missing']) {
      await (await fetch(server.url + target)).arrayBuffer();
    }
    const res = await fetch(server.admin!.url + 'metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    text = await res.text();
  });
  after(async () => {
    await server?.close();
    setLogSink(null);
  });

  it('passes the built-in lint (no "_total" gauge, counters end in "_total")', () => {
    assert.match(text, /^tamarin_cache_hits_total\{/m, 'the scrape has the server series');
    assert.match(text, /^tamarin_proxy_backend_up\{/m);
    assert.deepEqual(lintExposition(text), []);
  });

  it('the lint catches what promtool refuses', () => {
    const bad = '# HELP x_total x\n# TYPE x_total gauge\nx_total 1\n# HELP y y\n# TYPE y counter\ny 2\nz 3\n';
    assert.deepEqual(lintExposition(bad), [
      'x_total: a gauge must not end in "_total" (the suffix promises a counter)',
      'y: a counter must end in "_total"',
      'z: sample without a TYPE line',
    ]);
  });

  it('passes `promtool check metrics` (when promtool is installed)', (t) => {
    const tool = promtool();
    if (tool === null) {
      t.skip('promtool is not installed (Debian: apt-get install prometheus)');
      return;
    }
    const result = spawnSync(tool, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.stdout + result.stderr, '');
    assert.equal(result.status, 0);
  });
});
