import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCacheControl } from './cache-control.ts';
import {
  correctedInitialAge,
  decideReuse,
  type FreshnessFields,
  freshnessLifetime,
  parseAge,
  staleOnError,
} from './freshness.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const date = (offsetSeconds: number) => new Date(T0 + offsetSeconds * 1000).toUTCString();
const timing = { requestTime: T0, responseTime: T0, dateValue: T0, ageValue: 0 };
const options = { defaultTtlMs: 0, heuristic: true, heuristicMaxMs: 86_400_000 };

const lifetimes: Array<[string, string | undefined, Partial<FreshnessFields>, number, number, string]> = [
  [
    '§4.2.1 s-maxage wins over max-age',
    's-maxage=10, max-age=100',
    { expires: date(1000) },
    200,
    10_000,
    'explicit',
  ],
  ['max-age wins over Expires', 'max-age=100', { expires: date(1000) }, 200, 100_000, 'explicit'],
  ['Expires − Date', undefined, { expires: date(50) }, 200, 50_000, 'explicit'],
  ['§5.3 invalid Expires = already stale', undefined, { expires: '0' }, 200, 0, 'explicit'],
  ['Expires in the past', undefined, { expires: date(-50) }, 200, 0, 'explicit'],
  [
    'conflicting Expires lines = stale',
    undefined,
    { expires: date(50), expiresConflict: true },
    200,
    0,
    'explicit',
  ],
  [
    '§4.2.2 heuristic: 10% of Date − Last-Modified',
    undefined,
    { lastModified: date(-1000) },
    200,
    100_000,
    'heuristic',
  ],
  ['heuristic bounded', undefined, { lastModified: date(-100 * 86_400) }, 200, 86_400_000, 'heuristic'],
  ['no heuristic for 302', undefined, { lastModified: date(-1000) }, 302, 0, 'none'],
  [
    'public makes 302 heuristically cacheable',
    'public',
    { lastModified: date(-1000) },
    302,
    100_000,
    'heuristic',
  ],
  ['nothing said', undefined, {}, 200, 0, 'none'],
];

for (const [name, cc, fields, status, ms, source] of lifetimes) {
  test(`lifetime: ${name}`, () => {
    const got = freshnessLifetime(
      parseCacheControl(cc),
      { date: undefined, expires: undefined, lastModified: undefined, ...fields },
      status,
      timing,
      options,
    );
    assert.deepEqual(got, { ms, source });
  });
}

test('default TTL only when configured, only without explicit freshness', () => {
  const withDefault = { ...options, defaultTtlMs: 5000 };
  const none = { date: undefined, expires: undefined, lastModified: undefined };
  assert.deepEqual(freshnessLifetime(parseCacheControl(undefined), none, 200, timing, withDefault), {
    ms: 5000,
    source: 'default',
  });
  assert.equal(freshnessLifetime(parseCacheControl('max-age=1'), none, 200, timing, withDefault).ms, 1000);
});

test('§4.2.3 age: upstream Age, apparent age and response delay', () => {
  assert.equal(parseAge('30'), 30);
  assert.equal(parseAge('x'), 0);
  assert.equal(parseAge('7, 9'), 7);
  // Age 30 received, 2 s on the wire → 32 s.
  assert.equal(
    correctedInitialAge({ requestTime: T0, responseTime: T0 + 2000, dateValue: T0, ageValue: 30 }),
    32_000,
  );
  // Date 100 s in the past, no Age → apparent age 100 s.
  assert.equal(
    correctedInitialAge({ requestTime: T0, responseTime: T0, dateValue: T0 - 100_000, ageValue: 0 }),
    100_000,
  );
  // A Date in the future never makes a negative age.
  assert.equal(
    correctedInitialAge({ requestTime: T0, responseTime: T0, dateValue: T0 + 100_000, ageValue: 0 }),
    0,
  );
});

const stored = (cc: string, lifetimeMs: number) => ({
  lifetimeMs,
  initialAgeMs: 0,
  responseTime: T0,
  directives: parseCacheControl(cc),
});

const reuse: Array<[string, string, number, string, number, string]> = [
  ['fresh', 'max-age=60', 60_000, '', 10, 'fresh'],
  ['stale', 'max-age=60', 60_000, '', 61, 'validate'],
  ['§5.2.2.4 response no-cache always validates', 'no-cache, max-age=60', 60_000, '', 1, 'validate'],
  ['§5.2.1.4 request no-cache', 'max-age=60', 60_000, 'no-cache', 1, 'validate'],
  ['§5.2.1.1 request max-age', 'max-age=60', 60_000, 'max-age=5', 10, 'validate'],
  ['request max-age satisfied', 'max-age=60', 60_000, 'max-age=20', 10, 'fresh'],
  ['§5.2.1.3 min-fresh', 'max-age=60', 60_000, 'min-fresh=55', 10, 'validate'],
  ['§5.2.1.2 max-stale accepts', 'max-age=60', 60_000, 'max-stale=10', 65, 'stale'],
  ['max-stale too small', 'max-age=60', 60_000, 'max-stale=1', 65, 'validate'],
  [
    '§5.2.2.2 must-revalidate ignores max-stale',
    'max-age=60, must-revalidate',
    60_000,
    'max-stale',
    65,
    'validate',
  ],
  ['§5.2.2.8 proxy-revalidate', 'max-age=60, proxy-revalidate', 60_000, 'max-stale', 65, 'validate'],
  ['§5.2.2.10 s-maxage never stale', 's-maxage=60', 60_000, 'max-stale', 65, 'validate'],
  [
    'RFC 5861 stale-while-revalidate',
    'max-age=60, stale-while-revalidate=30',
    60_000,
    '',
    80,
    'stale-while-revalidate',
  ],
  ['past the swr window', 'max-age=60, stale-while-revalidate=30', 60_000, '', 95, 'validate'],
];

for (const [name, cc, lifetimeMs, request, atSeconds, expected] of reuse) {
  test(`reuse: ${name}`, () => {
    assert.equal(
      decideReuse(stored(cc, lifetimeMs), parseCacheControl(request), T0 + atSeconds * 1000),
      expected,
    );
  });
}

test('stale-if-error: window, request directive, fallback, never for must-revalidate', () => {
  const none = parseCacheControl(undefined);
  assert.equal(staleOnError(stored('max-age=10, stale-if-error=60', 10_000), none, T0 + 50_000, 0), true);
  assert.equal(staleOnError(stored('max-age=10, stale-if-error=60', 10_000), none, T0 + 80_000, 0), false);
  assert.equal(
    staleOnError(stored('max-age=10', 10_000), parseCacheControl('stale-if-error=60'), T0 + 50_000, 0),
    true,
  );
  assert.equal(staleOnError(stored('max-age=10', 10_000), none, T0 + 50_000, 60_000), true);
  assert.equal(staleOnError(stored('max-age=10, must-revalidate', 10_000), none, T0 + 50_000, 60_000), false);
  assert.equal(staleOnError(stored('no-cache', 10_000), none, T0 + 5000, 60_000), false);
});
