/**
 * The engine's own answers reach `onEngineResponse` (once, when written or aborted) and never
 * `onResponseDone`; the plugin host runs them through plugins' `onEngineResponse` only, so a plugin's
 * `onResponse` (the cache storing responses) never sees a request no handler saw.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import type { Request, Response } from '../src/http/types.ts';
import { createHost } from '../src/server/host.ts';
import { setLogSink } from '../src/server/logger.ts';
import { definePlugin, type Plugin } from '../src/server/plugin.ts';
import { Client, serve } from './http-engine-helpers.ts';

interface Seen {
  method: string;
  target: string;
  versionMinor: number;
  remote: string;
  status: number;
  bytes: number;
  finished: boolean;
  aborted: boolean;
}

function record(into: Seen[]) {
  return (req: Request, res: Response): void => {
    into.push({
      method: req.method,
      target: req.target,
      versionMinor: req.versionMinor,
      remote: req.connection.remoteAddress,
      status: res.statusCode,
      bytes: res.bodyBytes,
      finished: res.finished,
      aborted: res.aborted,
    });
  };
}

describe('engine: onEngineResponse', () => {
  it('reports a rejected request once, with what the parser had read, and not to onResponseDone', async () => {
    const done: Seen[] = [];
    const engine: Seen[] = [];
    const server = await serve((_req, res) => res.end('ok'), {
      hooks: { onResponseDone: record(done), onEngineResponse: record(engine) },
    });
    try {
      let client = await Client.open(server.port);
      client.send('GARBAGE\r\n\r\n');
      await client.waitClosed();
      assert.deepEqual(engine, [
        {
          method: '',
          target: '',
          versionMinor: 1,
          remote: '127.0.0.1',
          status: 400,
          bytes: client.data.length - client.data.indexOf('\r\n\r\n') - 4,
          finished: true,
          aborted: false,
        },
      ]);
      client = await Client.open(server.port);
      client.send(
        'HEAD /ok HTTP/1.1\r\nHost: a\r\n\r\nPOST /x HTTP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      );
      await client.waitClosed();
      assert.equal(done.length, 1, 'the good request once');
      assert.equal(done[0]!.method, 'HEAD');
      assert.equal(engine.length, 2);
      assert.deepEqual(
        [engine[1]!.method, engine[1]!.target, engine[1]!.versionMinor, engine[1]!.status],
        ['POST', '/x', 0, 400],
      );
    } finally {
      await server.close();
    }
  });

  it('a HEAD request rejected after its line still gets the error text, as before', async () => {
    const engine: Seen[] = [];
    const server = await serve((_req, res) => res.end('ok'), { hooks: { onEngineResponse: record(engine) } });
    try {
      const client = await Client.open(server.port);
      client.send('HEAD / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n');
      await client.waitClosed();
      const text = client.data.toString('latin1');
      assert.match(text, /^HTTP\/1\.1 400 [\s\S]*\r\n\r\n400 .+\n$/);
      assert.equal(engine[0]!.method, 'HEAD');
    } finally {
      await server.close();
    }
  });

  it('an answer queued behind a response the client never waits for is reported aborted', async () => {
    const engine: Seen[] = [];
    const done: Seen[] = [];
    const server = await serve(() => {}, {
      hooks: { onEngineResponse: record(engine), onResponseDone: record(done) },
    });
    try {
      const client = await Client.open(server.port);
      client.send('GET /never HTTP/1.1\r\nHost: a\r\n\r\nGARBAGE\r\n\r\n');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(engine.length, 0, 'not before it is written or aborted');
      client.destroy();
      for (let i = 0; i < 100 && engine.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(engine.length, 1);
      assert.equal(engine[0]!.aborted, true);
      assert.equal(engine[0]!.status, 400);
      assert.equal(done.length, 1, 'the unanswered request is aborted through onResponseDone');
    } finally {
      await server.close();
    }
  });

  it('a connection over maxConnections: its 503 is reported with the remote address', async () => {
    const engine: Seen[] = [];
    const server = await serve(() => {}, { maxConnections: 1, hooks: { onEngineResponse: record(engine) } });
    const holder = await Client.open(server.port);
    try {
      holder.send('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
      await new Promise((resolve) => setTimeout(resolve, 30));
      const refused = await Client.open(server.port);
      await refused.waitClosed();
      assert.match(refused.data.toString('latin1'), /^HTTP\/1\.1 503 /);
      for (let i = 0; i < 100 && engine.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(engine, [
        {
          method: '',
          target: '',
          versionMinor: 1,
          remote: '127.0.0.1',
          status: 503,
          bytes: 30,
          finished: true,
          aborted: false,
        },
      ]);
    } finally {
      holder.destroy();
      await server.close();
    }
  });
});

describe('host: onEngineResponse reaches only the plugins that define it', () => {
  before(() => setLogSink(() => {}));
  after(() => setLogSink(null));

  const options = { workerId: 0, workerCount: 1, config: {} };
  const plugin = (name: string, hooks: Omit<Plugin, 'name'>) =>
    definePlugin({ name, options: z.object({}), create: () => ({ name, ...hooks }) });

  it('no such plugin: the host has no onEngineResponse hook at all', async () => {
    const host = await createHost(
      [{ definition: plugin('store', { onResponse() {} }), options: {} }],
      options,
    );
    assert.equal(host.hooks.onEngineResponse, undefined);
  });

  it('onResponse plugins are not called; a throwing plugin does not stop the next', async () => {
    const calls: string[] = [];
    const host = await createHost(
      [
        { definition: plugin('store', { onResponse: () => calls.push('store') }), options: {} },
        {
          definition: plugin('broken', {
            onEngineResponse: () => {
              throw new Error('boom');
            },
          }),
          options: {},
        },
        {
          definition: plugin('log', { onEngineResponse: (_req, res) => calls.push(`log ${res.statusCode}`) }),
          options: {},
        },
      ],
      options,
    );
    host.hooks.onEngineResponse!({} as Request, { statusCode: 400 } as Response);
    assert.deepEqual(calls, ['log 400']);
  });
});
