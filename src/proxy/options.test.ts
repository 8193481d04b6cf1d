import assert from 'node:assert/strict';
import { test } from 'node:test';
import { proxyOptionsSchema } from './options.ts';

function issues(input: unknown): string[] {
  const result = proxyOptionsSchema.safeParse(input);
  assert.equal(result.success, false, 'expected a config error');
  return result.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

test('defaults, units and backend forms', () => {
  const options = proxyOptionsSchema.parse({
    routes: [
      {
        match: '^/api/',
        backends: ['http://127.0.0.1:3000', { url: 'http://[::1]:3001', weight: 2 }, 'http://b'],
      },
    ],
  });
  assert.equal(options.via, 'tamarin');
  const route = options.routes[0]!;
  assert.deepEqual(route.backends, [
    { url: 'http://127.0.0.1:3000', host: '127.0.0.1', port: 3000, weight: 1 },
    { url: 'http://[::1]:3001', host: '::1', port: 3001, weight: 2 },
    { url: 'http://b', host: 'b', port: 80, weight: 1 },
  ]);
  assert.equal(route.match[0]!.test('/api/x'), true);
  assert.equal(route.balancer, 'round-robin');
  assert.equal(route.host_header, 'pass');
  assert.deepEqual(
    [route.connect_timeout, route.response_timeout, route.idle_timeout, route.fail_window, route.cooldown],
    [2000, 30_000, 4_000, 10_000, 10_000],
  );
  assert.deepEqual([route.attempts, route.max_fails, route.keepalive], [3, 3, 128]);
  assert.equal(route.health, undefined);
  const withHealth = proxyOptionsSchema.parse({
    routes: [{ match: ['^/a', '^/b'], backends: ['http://x:1'], health: { interval: '1s' }, cooldown: '1m' }],
  }).routes[0]!;
  assert.deepEqual(withHealth.health, { path: '/health', interval: 1000, timeout: 2000, rise: 2, fall: 3 });
  assert.equal(withHealth.cooldown, 60_000);
});

test('config errors name the key and say what was expected', () => {
  const cases: Array<[unknown, RegExp]> = [
    [
      { routes: [{ match: '^/', backends: ['ftp://x'] }] },
      /^routes\.0\.backends\.0: only http:\/\/ and https:\/\/ backends/,
    ],
    [
      { routes: [{ match: '^/', backends: ['http://x/prefix'] }] },
      /^routes\.0\.backends\.0: a backend URL has no path/,
    ],
    [
      { routes: [{ match: '^/', backends: ['not a url'] }] },
      /^routes\.0\.backends\.0: expected a backend URL/,
    ],
    [
      { routes: [{ match: '([', backends: ['http://x'] }] },
      /^routes\.0\.match: invalid regular expression "\(\["/,
    ],
    [{ routes: [{ match: '^/', backends: [] }] }, /^routes\.0\.backends: /],
    [{ routes: [{ match: '^/', backends: ['http://x'], balancer: 'random' }] }, /^routes\.0\.balancer: /],
    [
      { routes: [{ match: '^/', backends: ['http://x'], timeout: '1s' }] },
      /^routes\.0: Unrecognized key: "timeout"/,
    ],
    [
      { routes: [{ match: '^/', backends: ['http://x'], cooldown: 'soon' }] },
      /^routes\.0\.cooldown: expected a duration/,
    ],
    [
      { routes: [{ match: '^/', backends: [{ url: 'http://x', weight: 0 }] }] },
      /^routes\.0\.backends\.0\.weight: /,
    ],
    [{ via: 'tama rin' }, /^via: expected a token/],
    [{ route: [] }, /Unrecognized key: "route"/],
  ];
  for (const [input, expected] of cases) {
    const found = issues(input);
    assert.ok(
      found.some((line) => expected.test(line)),
      `${JSON.stringify(input)} gave ${JSON.stringify(found)}`,
    );
  }
});
