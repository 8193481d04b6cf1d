/**
 * The direction of the house, checked over the import graph of src/: runtime imports between folders
 * (test files and `import type` left out: a type ties no module at run time) must follow the rules below,
 * and no folders may import each other in a cycle. Cycles between files are Biome's `noImportCycles`.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Folder → folders it must never import at run time, with why. */
const NEVER: ReadonlyArray<readonly [from: string, to: readonly string[], why: string]> = [
  ['http', ['*'], 'the engine and the HTTP semantics know nothing above them'],
  [
    'server',
    ['main', 'admin', 'cache', 'http-cache', 'proxy', 'static', 'plugins', 'tls', 'http2'],
    'the host knows plugins only by their contract, and its listeners only by the catalogue',
  ],
  [
    'tls',
    ['main', 'admin', 'cache', 'http-cache', 'proxy', 'static', 'plugins'],
    'TLS listeners sit on the engine and the host, below the plugins and the admin',
  ],
  [
    'http2',
    ['main', 'admin', 'cache', 'http-cache', 'proxy', 'static', 'plugins', 'tls'],
    'the HTTP/2 adapter speaks only the engine contract',
  ],
  [
    'cache',
    ['main', 'admin', 'proxy', 'http-cache', 'static', 'plugins'],
    'the content cache is below its producers',
  ],
  ['http-cache', ['main', 'admin', 'proxy', 'static', 'plugins'], "the proxy's cache is used by the proxy"],
  ['proxy', ['main', 'admin', 'static', 'plugins'], 'a plugin never imports another plugin'],
  ['static', ['main', 'admin', 'cache', 'http-cache', 'proxy', 'plugins'], 'a plugin never imports another'],
  ['plugins', ['main', 'admin', 'cache', 'http-cache', 'proxy', 'static'], 'a plugin never imports another'],
  [
    'admin',
    ['main', 'cache', 'http-cache', 'proxy', 'static', 'plugins'],
    'the admin knows plugins only by their contract, never by their runtime code',
  ],
];

/** Runtime imports between folders: `from -> to` with the importing files. */
function folderEdges(): Map<string, string[]> {
  const files: string[] = [];
  (function walk(dir: string) {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (/\.ts$/.test(entry.name) && !/\.test\.ts$|^test-|\.d\.ts$/.test(entry.name)) files.push(full);
    }
  })(SRC);
  const folderOf = (file: string) => {
    const parts = path.relative(SRC, file).split(path.sep);
    return parts.length === 1 ? parts[0]!.replace(/\.ts$/, '') : parts[0]!;
  };
  const edges = new Map<string, string[]>();
  const pattern =
    /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|import\s*['"]([^'"]+)['"]/g;
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    for (const match of text.matchAll(pattern)) {
      const spec = match[1] ?? match[2] ?? match[3]!;
      if (!spec.startsWith('.') || /^(import|export)\s+type\s/.test(match[0])) continue;
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(SRC)) continue;
      const from = folderOf(file);
      const to = folderOf(target);
      if (from === to) continue;
      const key = `${from} -> ${to}`;
      edges.set(key, [...(edges.get(key) ?? []), path.relative(SRC, file)]);
    }
  }
  return edges;
}

test('imports between src/ folders follow the rules of the house', () => {
  const broken: string[] = [];
  for (const [edge, importers] of folderEdges()) {
    const [from, to] = edge.split(' -> ') as [string, string];
    for (const [rule, forbidden, why] of NEVER) {
      if (rule === from && (forbidden.includes('*') || forbidden.includes(to))) {
        broken.push(`${edge} (${importers.join(', ')}): ${why}`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

test('no folders import each other in a cycle', () => {
  const next = new Map<string, Set<string>>();
  for (const edge of folderEdges().keys()) {
    const [from, to] = edge.split(' -> ') as [string, string];
    if (!next.has(from)) next.set(from, new Set());
    next.get(from)!.add(to);
  }
  const reaches = (from: string, to: string, seen = new Set<string>()): boolean => {
    if (from === to) return true;
    if (seen.has(from)) return false;
    seen.add(from);
    for (const n of next.get(from) ?? []) if (reaches(n, to, seen)) return true;
    return false;
  };
  const inCycle = [...next.keys()].filter((folder) => [...next.get(folder)!].some((n) => reaches(n, folder)));
  assert.deepEqual(inCycle, []);
});

test('the rules are not vacuous: the graph has the edges the house is built on', () => {
  const edges = folderEdges();
  for (const edge of ['main -> server', 'server -> http', 'proxy -> http-cache', 'http-cache -> cache']) {
    assert.ok(edges.has(edge), `expected ${edge}`);
  }
});

test('a small built-in plugin never imports another one (only src/plugins/shared/)', () => {
  const plugins = path.join(SRC, 'plugins');
  const pattern = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  const broken: string[] = [];
  const folders = fs.readdirSync(plugins, { withFileTypes: true }).filter((entry) => entry.isDirectory());
  assert.ok(folders.length > 1, 'src/plugins has plugin folders');
  for (const folder of folders) {
    const dir = path.join(plugins, folder.name);
    for (const name of fs.readdirSync(dir)) {
      if (!/\.ts$/.test(name) || /\.test\.ts$/.test(name)) continue;
      const text = fs.readFileSync(path.join(dir, name), 'utf8');
      for (const match of text.matchAll(pattern)) {
        const spec = match[1] ?? match[2]!;
        if (!spec.startsWith('.') || /^(import|export)\s+type\s/.test(match[0])) continue;
        const target = path.relative(plugins, path.resolve(dir, spec)).split(path.sep);
        if (target.length < 2 || target[0] === '..') continue;
        if (target[0] !== folder.name && target[0] !== 'shared') {
          broken.push(`plugins/${folder.name}/${name} imports plugins/${target.join('/')}`);
        }
      }
    }
  }
  assert.deepEqual(broken, []);
});
