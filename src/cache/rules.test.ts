import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import {
  type AdmissionInput,
  cacheRuleSchema,
  compileRules,
  decideAdmission,
  extensionOf,
  globToRegExp,
  mediaType,
} from './rules.ts';

const rules = (config: { rules?: unknown[]; ttl?: number; min?: number; max?: number }) =>
  compileRules({
    minObjectSize: config.min ?? 0,
    maxObjectSize: config.max ?? 1024,
    ttlMs: config.ttl,
    rules: z.array(cacheRuleSchema).parse(config.rules ?? []),
  });

const input = (over: Partial<AdmissionInput>): AdmissionInput => ({
  path: '/index.html',
  status: 200,
  size: 100,
  contentType: 'text/html; charset=utf-8',
  cacheControl: undefined,
  ...over,
});

describe('globToRegExp', () => {
  const cases: Array<[glob: string, path: string, matches: boolean]> = [
    ['/img/**', '/img/a.png', true],
    ['/img/**', '/img/deep/er/a.png', true],
    ['/img/**', '/imgx/a.png', false],
    ['/img/*', '/img/a.png', true],
    ['/img/*', '/img/deep/a.png', false],
    ['/a/**/b.css', '/a/b.css', true],
    ['/a/**/b.css', '/a/x/y/b.css', true],
    ['*.css', '/style.css', true],
    ['*.css', '/deep/dir/style.css', true],
    ['*.css', '/style.css.map', false],
    ['file?.txt', '/dir/file1.txt', true],
    ['file?.txt', '/dir/file12.txt', false],
    ['img/*.png', '/img/a.png', true],
    ['/a.b', '/axb', false],
    ['/(x)+', '/(x)+', true],
  ];
  for (const [glob, path, matches] of cases) {
    test(`${glob} ${matches ? 'matches' : 'does not match'} ${path}`, () => {
      assert.equal(globToRegExp(glob).test(path), matches);
    });
  }
});

test('extensionOf and mediaType', () => {
  assert.equal(extensionOf('/a/b.PNG'), 'png');
  assert.equal(extensionOf('/a.d/b'), '');
  assert.equal(extensionOf('/.hidden'), '');
  assert.equal(extensionOf('/x.tar.gz'), 'gz');
  assert.equal(mediaType('Text/HTML; charset=utf-8'), 'text/html');
  assert.equal(mediaType(undefined), '');
});

describe('decideAdmission', () => {
  const table: Array<{
    name: string;
    config: Parameters<typeof rules>[0];
    input: Partial<AdmissionInput>;
    expect: ReturnType<typeof decideAdmission>;
  }> = [
    {
      name: 'default: cached until evicted',
      config: {},
      input: {},
      expect: { admit: true, ttlMs: Infinity },
    },
    { name: 'default ttl applies', config: { ttl: 5000 }, input: {}, expect: { admit: true, ttlMs: 5000 } },
    {
      name: 'non-200 is not stored',
      config: {},
      input: { status: 404 },
      expect: { admit: false, reason: 'status' },
    },
    {
      name: '206 is not stored',
      config: {},
      input: { status: 206 },
      expect: { admit: false, reason: 'status' },
    },
    {
      name: 'producer no-store',
      config: {},
      input: { cacheControl: 'public, no-store' },
      expect: { admit: false, reason: 'no-store' },
    },
    {
      name: 'producer private',
      config: {},
      input: { cacheControl: 'Private' },
      expect: { admit: false, reason: 'no-store' },
    },
    {
      name: 'max-age is fine',
      config: {},
      input: { cacheControl: 'public, max-age=60' },
      expect: { admit: true, ttlMs: Infinity },
    },
    { name: 'too large', config: { max: 99 }, input: {}, expect: { admit: false, reason: 'too-large' } },
    { name: 'exactly max', config: { max: 100 }, input: {}, expect: { admit: true, ttlMs: Infinity } },
    { name: 'too small', config: { min: 101 }, input: {}, expect: { admit: false, reason: 'too-small' } },
    {
      name: 'excluded by extension',
      config: { rules: [{ extension: ['log', '.tmp'], cache: false }] },
      input: { path: '/x/debug.TMP' },
      expect: { admit: false, reason: 'excluded' },
    },
    {
      name: 'extension rule does not match other files',
      config: { rules: [{ extension: 'log', cache: false }] },
      input: {},
      expect: { admit: true, ttlMs: Infinity },
    },
    {
      name: 'per-rule ttl by path glob',
      config: { ttl: 1000, rules: [{ path: '/img/**', ttl: '1h' }] },
      input: { path: '/img/a/b.png', contentType: 'image/png' },
      expect: { admit: true, ttlMs: 3_600_000 },
    },
    {
      name: 'first match wins',
      config: {
        rules: [
          { path: '/img/**', cache: false },
          { mime: 'image/*', ttl: '1m' },
        ],
      },
      input: { path: '/img/a.png', contentType: 'image/png' },
      expect: { admit: false, reason: 'excluded' },
    },
    {
      name: 'seed MimeTypesList: allow-list then catch-all bypass (listed)',
      config: { rules: [{ mime: ['text/html', 'image/*'] }, { cache: false }] },
      input: { contentType: 'image/webp' },
      expect: { admit: true, ttlMs: Infinity },
    },
    {
      name: 'seed MimeTypesList: allow-list then catch-all bypass (not listed)',
      config: { rules: [{ mime: ['text/html', 'image/*'] }, { cache: false }] },
      input: { contentType: 'application/json' },
      expect: { admit: false, reason: 'excluded' },
    },
    {
      name: 'criteria are ANDed',
      config: { rules: [{ path: '/docs/**', mime: 'text/html', cache: false }] },
      input: { path: '/docs/a.css', contentType: 'text/css' },
      expect: { admit: true, ttlMs: Infinity },
    },
    {
      name: 'size limits come before rules',
      config: { max: 10, rules: [{ path: '/**', ttl: '1s' }] },
      input: {},
      expect: { admit: false, reason: 'too-large' },
    },
  ];
  for (const row of table) {
    test(row.name, () => assert.deepEqual(decideAdmission(rules(row.config), input(row.input)), row.expect));
  }
});

test('rule schema rejects unknown keys and a zero ttl with the key named', () => {
  const unknown = cacheRuleSchema.safeParse({ paht: '/x' });
  assert.equal(unknown.success, false);
  assert.match(z.prettifyError(unknown.error!), /paht/);
  const zero = cacheRuleSchema.safeParse({ path: '/x', ttl: '0s' });
  assert.equal(zero.success, false);
  assert.match(z.prettifyError(zero.error!), /ttl/);
});
