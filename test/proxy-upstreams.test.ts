/**
 * Named upstream pools (`[[proxy.upstreams]]`) shared by several routes, over real sockets: one
 * keep-alive pool per backend (a connection opened for one route serves the other), one health state (a
 * backend that failed through one route is cooling for the other too), one drain; and the config errors
 * that name the route key and the upstream.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { after, describe, test } from 'node:test';
import {
  captureLogs,
  type FakeBackend,
  fetchText,
  startFakeBackend,
  startProxy,
} from './helpers/fake-backend.ts';

const started: FakeBackend[] = [];

async function backend(name: string): Promise<FakeBackend> {
  const b = await startFakeBackend({ name });
  started.push(b);
  return b;
}

after(async () => {
  await Promise.all(started.map((b) => b.stop()));
});

type Control = Awaited<ReturnType<typeof startProxy>>['control'];

/** State of every backend, per route: `[[url, state], ...]` for each route. */
async function listing(control: Control): Promise<Array<{ upstream: string | null; states: string[] }>> {
  const [first] = await control('proxy', 'backends');
  const routes = first!.result as Array<{ upstream: string | null; backends: Array<{ state: string }> }>;
  return routes.map((r) => ({ upstream: r.upstream, states: r.backends.map((b) => b.state) }));
}

describe('named upstreams', () => {
  test('routes that name one upstream share its keep-alive connections', async () => {
    const a = await backend('a');
    const server = await startProxy({
      upstreams: [{ name: 'api', backends: [a.url], keepalive: 4 }],
      routes: [
        { match: '^/one/', upstream: 'api' },
        { match: '^/two/', upstream: 'api' },
      ],
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 6; i++) {
        const res = await fetchText(`${server.url}/${i % 2 === 0 ? 'one' : 'two'}/${i}`, { agent });
        assert.equal(res.status, 200);
        assert.equal(res.headers['x-backend'], 'a');
      }
      assert.equal(a.connections, 1, 'one upstream connection served both routes');
      const routes = await listing(server.control);
      assert.deepEqual(
        routes.map((r) => r.upstream),
        ['api', 'api'],
      );
    } finally {
      agent.destroy();
      await server.close();
    }
  });

  test('one health state: failures through one route cool the backend for every route of the upstream', async () => {
    const dead = await backend('dead');
    await dead.stop();
    const b = await backend('b');
    const logs = captureLogs();
    const server = await startProxy({
      upstreams: [
        {
          name: 'api',
          backends: [dead.url, b.url],
          balancer: 'first-alive',
          max_fails: 1,
          cooldown: '1m',
        },
      ],
      routes: [
        { match: '^/one/', upstream: 'api' },
        { match: '^/two/', upstream: 'api', host_header: 'backend' },
        {
          match: '^/own/',
          backends: [dead.url, b.url],
          balancer: 'first-alive',
          max_fails: 1,
          cooldown: '1m',
        },
      ],
    });
    try {
      const first = await fetchText(`${server.url}/one/x`);
      assert.equal(first.status, 200, 'failover to b');
      assert.equal(first.headers['x-backend'], 'b');
      assert.deepEqual(await listing(server.control), [
        { upstream: 'api', states: ['cooling', 'up'] },
        { upstream: 'api', states: ['cooling', 'up'] },
        { upstream: null, states: ['up', 'up'] },
      ]);
      // Route two never tries the dead backend: it goes straight to b, on b's pooled connection.
      const before = b.seen.length;
      const second = await fetchText(`${server.url}/two/y`);
      assert.equal(second.headers['x-backend'], 'b');
      assert.equal(b.seen.length, before + 1);
      // One state change, logged once (not once per route).
      assert.equal(logs.lines.filter((l) => l.includes(`backend ${dead.url} up -> cooling`)).length, 1);
      // A drain through the API's control call reaches every route of the upstream.
      const [changed] = await server.control('proxy', 'backend-state', {
        action: 'drain',
        url: b.url,
        route: 1,
      });
      assert.equal((changed!.result as unknown[]).length, 1, 'one backend, changed once');
      const states = await listing(server.control);
      assert.equal(states[0]!.states[1], 'drained');
      assert.equal(states[2]!.states[1], 'up', 'a route with its own backends is another backend');
    } finally {
      logs.restore();
      await server.close();
    }
  });

  test('config errors name the route key and the upstream', async () => {
    const a = await backend('a');
    const refused = async (proxy: Record<string, unknown>) => {
      try {
        const server = await startProxy(proxy);
        await server.close();
      } catch (error) {
        return (error as Error).message;
      }
      return assert.fail('the configuration was accepted');
    };
    assert.match(
      await refused({
        upstreams: [{ name: 'api', backends: [a.url] }],
        routes: [
          { match: '^/', upstream: 'api' },
          { match: '^/x', upstream: 'nope' },
        ],
      }),
      /proxy\.routes\[1\]\.upstream: unknown upstream \(defined: api\), got "nope"/,
    );
    assert.match(
      await refused({
        upstreams: [{ name: 'api', backends: [a.url] }],
        routes: [{ match: '^/', upstream: 'api', balancer: 'hash-ip' }],
      }),
      /proxy\.routes\[0\]\.balancer: set it on upstream "api"/,
    );
    assert.match(
      await refused({ routes: [{ match: '^/' }] }),
      /proxy\.routes\[0\]\.backends: a route needs backends = \[\.\.\.\] or upstream = "name"/,
    );
    assert.match(
      await refused({
        upstreams: [
          { name: 'api', backends: [a.url] },
          { name: 'api', backends: [a.url] },
        ],
        routes: [],
      }),
      /proxy\.upstreams\[1\]\.name: an upstream name must be unique \(proxy\.upstreams\[0\] has it\), got "api"/,
    );
  });
});
