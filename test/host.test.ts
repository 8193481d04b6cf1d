import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { rawRequest } from '../src/http/test-client.ts';
import type { HeaderValue, Request, Response } from '../src/http/types.ts';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { createHost, type HostPluginSpec } from '../src/server/host.ts';
import { setLogSink } from '../src/server/logger.ts';
import { type Plugin, serviceKey } from '../src/server/plugin.ts';

/** The fields of Request the host reads. */
function fakeRequest(target = '/'): Request {
  return { method: 'GET', target, path: target } as Request;
}

/** A Response that records the outcome. */
function fakeResponse() {
  const headers = new Map<string, HeaderValue>();
  const res = {
    statusCode: 200,
    statusMessage: '',
    headersSent: false,
    finished: false,
    destroyed: false,
    body: '',
    setHeader(name: string, value: HeaderValue) {
      headers.set(name.toLowerCase(), value);
      return res;
    },
    removeHeader(name: string) {
      headers.delete(name.toLowerCase());
      return res;
    },
    headerEntries: () => [...headers.entries()],
    getHeader: (name: string) => headers.get(name.toLowerCase()),
    writeHead() {
      res.headersSent = true;
      return res;
    },
    end(chunk?: Buffer | string) {
      res.headersSent = true;
      res.finished = true;
      res.body = chunk === undefined ? '' : String(chunk);
    },
    destroy() {
      res.destroyed = true;
      res.finished = true;
    },
  };
  return res;
}

function spec(name: string, hooks: Omit<Plugin, 'name'>, enabled = true): HostPluginSpec {
  return {
    definition: { name, options: z.object({}), create: () => ({ name, ...hooks }) },
    options: {},
    enabled,
  };
}

const hostOptions = { workerId: 0, workerCount: 1, config: {} };
/** Record that a hook ran and return its result. */
function note<T>(calls: string[], label: string, result: T): T {
  calls.push(label);
  return result;
}

function answer(res: Response, body: string): true {
  res.end(body);
  return true;
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('plugin host (stages without a socket)', () => {
  let logged: string[] = [];
  before(() => setLogSink((_level, line) => logged.push(line)));
  after(() => setLogSink(null));

  it('runs onRequest hooks, then content handlers, in plugin order; the first claimant wins', async () => {
    const calls: string[] = [];
    const host = await createHost(
      [
        spec('a', {
          onRequest: () => note(calls, 'a.request', false),
          handle: () => note(calls, 'a.handle', false),
        }),
        spec('b', { onRequest: () => note(calls, 'b.request', false) }),
        spec('c', {
          handle: (_req, res) => {
            calls.push('c.handle');
            res.end('from c');
            return true;
          },
        }),
        spec('d', { handle: () => note(calls, 'd.handle', true) }),
      ],
      hostOptions,
    );
    const res = fakeResponse();
    host.hooks.onRequest(fakeRequest(), res as unknown as Response);
    assert.deepEqual(calls, ['a.request', 'b.request', 'a.handle', 'c.handle']);
    assert.equal(res.body, 'from c');
  });

  it('a request hook that answers skips the content stage', async () => {
    const calls: string[] = [];
    const host = await createHost(
      [
        spec('cache', { onRequest: (_req, res) => answer(res, 'hit') }),
        spec('static', { handle: () => note(calls, 'static', true) }),
      ],
      hostOptions,
    );
    const res = fakeResponse();
    host.hooks.onRequest(fakeRequest(), res as unknown as Response);
    assert.deepEqual(calls, []);
    assert.equal(res.body, 'hit');
  });

  it('awaits hooks that return a promise, and continues with the next stage', async () => {
    const calls: string[] = [];
    const host = await createHost(
      [
        spec('slow', { onRequest: () => tick().then(() => note(calls, 'slow.request', false)) }),
        spec('maybe', { handle: () => tick().then(() => note(calls, 'maybe.handle', false)) }),
        spec('last', { handle: (_req, res) => note(calls, 'last.handle', answer(res, 'ok')) }),
      ],
      hostOptions,
    );
    const res = fakeResponse();
    host.hooks.onRequest(fakeRequest(), res as unknown as Response);
    for (let i = 0; i < 5 && !res.finished; i++) await tick();
    assert.deepEqual(calls, ['slow.request', 'maybe.handle', 'last.handle']);
    assert.equal(res.body, 'ok');
  });

  it('answers 404 when no handler claims the request', async () => {
    const host = await createHost([spec('a', { handle: () => false })], hostOptions);
    const res = fakeResponse();
    host.hooks.onRequest(fakeRequest(), res as unknown as Response);
    assert.equal(res.statusCode, 404);
    assert.equal(res.body, 'Not Found\n');
  });

  it('a throwing or rejecting plugin gets 500, with its own headers dropped, and a log line', async () => {
    logged = [];
    const host = await createHost(
      [
        spec('bad', {
          handle: (req, res) => {
            res.setHeader('content-length', 99);
            if (req.path === '/sync') throw new Error('boom');
            return Promise.reject(new Error('async boom'));
          },
        }),
      ],
      hostOptions,
    );
    const res = fakeResponse();
    host.hooks.onRequest(fakeRequest('/sync'), res as unknown as Response);
    assert.equal(res.statusCode, 500);
    assert.equal(res.getHeader('content-length'), undefined);
    assert.equal(res.body, 'Internal Server Error\n');
    const res2 = fakeResponse();
    host.hooks.onRequest(fakeRequest('/async'), res2 as unknown as Response);
    await tick();
    assert.equal(res2.statusCode, 500);
    assert.match(logged[0]!, /^tamarin bad: error: GET \/sync: boom/);
    assert.match(logged[1]!, /^tamarin bad: error: GET \/async: async boom/);
  });

  it('a plugin that fails after sending the head gets its connection destroyed', async () => {
    const host = await createHost(
      [
        spec('half', {
          handle: (_req, res) => {
            res.writeHead(200);
            throw new Error('mid-body');
          },
        }),
      ],
      hostOptions,
    );
    const res = fakeResponse();
    host.hooks.onRequest(fakeRequest(), res as unknown as Response);
    assert.equal(res.destroyed, true);
  });

  it('disabled plugins take part in no stage; empty stages are left out', async () => {
    const calls: string[] = [];
    const host = await createHost(
      [spec('off', { onRequest: () => note(calls, 'off', true), onResponse: () => {} }, false)],
      hostOptions,
    );
    assert.equal(host.plugins.has('off'), false);
    assert.equal(host.hooks.onResponseDone, undefined);
    assert.equal(host.hooks.onConnection, undefined);
    const res = fakeResponse();
    host.hooks.onRequest(fakeRequest(), res as unknown as Response);
    assert.deepEqual(calls, []);
    assert.equal(res.statusCode, 404);
  });

  it('onResponse errors are logged and the other hooks still run; close() runs every plugin', async () => {
    logged = [];
    const seen: string[] = [];
    const host = await createHost(
      [
        spec('a', {
          onResponse: () => {
            throw new Error('log failed');
          },
          close: () => {
            throw new Error('close failed');
          },
        }),
        spec('b', { onResponse: () => void seen.push('b'), close: () => void seen.push('b.close') }),
      ],
      hostOptions,
    );
    host.hooks.onResponseDone!(fakeRequest(), fakeResponse() as unknown as Response);
    await host.close();
    assert.deepEqual(seen, ['b', 'b.close']);
    assert.match(logged.join('\n'), /onResponse GET \/: log failed/);
    assert.match(logged.join('\n'), /close: close failed/);
  });

  it('hands services over typed: a provider listed after its consumer is created first, stages keep the list order', async () => {
    const greeting = serviceKey<{ greet(name: string): string }>('greeting');
    const created: string[] = [];
    const consumer: HostPluginSpec = {
      definition: {
        name: 'consumer',
        options: z.object({}),
        requires: () => [greeting],
        create: (_options, context) => {
          created.push('consumer');
          const service = context.service(greeting);
          return { name: 'consumer', handle: (_req, res) => answer(res, service.greet('consumer')) };
        },
      },
      options: {},
    };
    const provider: HostPluginSpec = {
      definition: {
        name: 'provider',
        options: z.object({}),
        provides: [greeting],
        create: (_options, context) => {
          created.push('provider');
          context.provide(greeting, { greet: (name) => `hello ${name}` });
          return { name: 'provider', handle: (_req, res) => answer(res, 'from the provider') };
        },
      },
      options: {},
    };
    const host = await createHost([consumer, provider], hostOptions);
    assert.deepEqual(created, ['provider', 'consumer']);
    assert.deepEqual([...host.plugins.keys()], ['consumer', 'provider']);
    const res = fakeResponse();
    host.hooks.onRequest(fakeRequest(), res as unknown as Response);
    assert.equal(res.body, 'hello consumer');
    // Without its provider, the consumer cannot start, and says which service it missed.
    await assert.rejects(createHost([consumer], hostOptions), /"consumer" needs the "greeting" service/);
  });

  it('a plugin that fails to start is named in the error', async () => {
    const failing: HostPluginSpec = {
      definition: {
        name: 'fragile',
        options: z.object({}),
        create: () => {
          throw new Error('no such directory');
        },
      },
      options: {},
    };
    await assert.rejects(createHost([failing], hostOptions), {
      message: 'plugin "fragile" failed to start: no such directory',
    });
  });

  it('control reaches a plugin by name and explains what is missing', async () => {
    const host = await createHost(
      [spec('a', { control: (command, args) => ({ command, args }) }), spec('b', {})],
      hostOptions,
    );
    assert.deepEqual(await host.control('a', 'stats', { x: 1 }), { command: 'stats', args: { x: 1 } });
    await assert.rejects(host.control('b', 'stats', null), /plugin "b" has no control commands/);
    await assert.rejects(host.control('zz', 'stats', null), /no plugin "zz" is running/);
  });
});

/** A plugin module for the socket tests: its behaviour depends on the path. */
const TEST_PLUGIN = `
import { definePlugin, z } from ${JSON.stringify(path.resolve('src/index.ts'))};
const statuses = [];
export default definePlugin({
  name: 'probe',
  options: z.strictObject({}),
  create: () => ({
    name: 'probe',
    handle(req, res) {
      if (req.path === '/throw') throw new Error('planned failure');
      if (req.path === '/reject') return Promise.reject(new Error('planned rejection'));
      if (req.path === '/ok') { res.setHeader('content-type', 'text/plain'); res.end('ok'); return true; }
      return false;
    },
    onResponse(req, res) { statuses.push(req.path + ' ' + res.statusCode); },
    control(command) { if (command === 'statuses') return statuses; throw new Error('unknown'); },
  }),
});
`;

describe('plugin host over a real socket (inProcess server)', () => {
  let dir: string;
  let server: RunningServer;
  before(async () => {
    setLogSink(() => {});
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-host-'));
    fs.writeFileSync(path.join(dir, 'probe.mjs'), TEST_PLUGIN);
    server = await startServer({
      config: { plugins: ['./probe.mjs'], server: { port: 0 } },
      configPath: path.join(dir, 'tamarin.toml'),
      inProcess: true,
    });
  });
  after(async () => {
    await server?.close();
    setLogSink(null);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a throwing plugin answers 500 and the connection keeps serving', async () => {
    const reply = (
      await rawRequest(
        server.port,
        'GET /throw HTTP/1.1\r\nHost: x\r\n\r\nGET /reject HTTP/1.1\r\nHost: x\r\n\r\n' +
          'GET /ok HTTP/1.1\r\nHost: x\r\n\r\nGET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      )
    ).toString('latin1');
    const statuses = [...reply.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
    assert.deepEqual(statuses, ['500', '500', '200', '404']);
    assert.match(reply, /\r\n\r\nok/);
  });

  it('onResponse sees the final status of every response', async () => {
    const [result] = await server.control('probe', 'statuses');
    assert.deepEqual(result!.result, ['/throw 500', '/reject 500', '/ok 200', '/nothing 404']);
  });
});
