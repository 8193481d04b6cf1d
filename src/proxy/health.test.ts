/**
 * Health checks shared by workers: two (or three) proxy instances in one process stand for the worker
 * threads of one server (workerId 0 leads, the others follow over a BroadcastChannel).
 */

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import type { PluginContext } from '../server/plugin.ts';
import { testContext } from '../server/test-context.ts';
import { createProxy, type ProxyInstance, proxyPluginOptionsSchema, type RouteSnapshot } from './plugin.ts';

/** A backend that counts the GETs of its health path and answers them with `status`. */
class HealthBackend {
  checks = 0;
  status = 200;
  readonly server: Server;
  constructor() {
    this.server = createServer((req, res) => {
      if (req.url === '/health') this.checks++;
      res.writeHead(req.url === '/health' ? this.status : 200, { 'content-length': '2' }).end('ok');
    });
  }
  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Each test gets its own channel: the name is derived from the process and the configured port.
let nextPort = 40_000;

interface Worker {
  proxy: ProxyInstance;
  lines: string[];
}

function startWorkers(url: string, health: Record<string, unknown>) {
  const port = nextPort++;
  const options = proxyPluginOptionsSchema.parse({ routes: [{ match: '^/', backends: [url], health }] });
  const started: Worker[] = [];
  return {
    started,
    /** Start the proxy instance of worker `workerId` (of 3). */
    start(workerId: number): Worker {
      const lines: string[] = [];
      const context: PluginContext = testContext({
        workerId,
        workerCount: 3,
        config: { server: { port } },
        logger: { info: (l) => lines.push(l), warn: (l) => lines.push(l), error: (l) => lines.push(l) },
      });
      const worker = { proxy: createProxy(options, context), lines };
      started.push(worker);
      return worker;
    },
  };
}

function state(worker: Worker): string {
  const routes = worker.proxy.control?.('backends', undefined) as RouteSnapshot[];
  return routes[0]!.backends[0]!.state;
}

async function until(what: string, condition: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('health checks shared by workers', () => {
  let backend: HealthBackend;
  let workers: Worker[] = [];
  afterEach(async () => {
    for (const worker of workers) await worker.proxy.close?.();
    workers = [];
    await backend?.close();
  });

  it('only worker 0 checks; worker 1 follows its verdicts down and up', async () => {
    backend = new HealthBackend();
    const url = await backend.listen();
    const pool = startWorkers(url, { interval: 50, timeout: 500, fall: 2, rise: 2 });
    workers = pool.started;
    const follower = pool.start(1);
    await sleep(250);
    assert.equal(backend.checks, 0, 'a follower sends no checks');

    const leader = pool.start(0);
    await sleep(500);
    // One check per 50 ms interval from the leader alone (plus the one at start); two workers would double it.
    assert.ok(backend.checks >= 4 && backend.checks <= 13, `${backend.checks} checks in 500 ms`);

    backend.status = 503;
    const failingFrom = backend.checks;
    await until('both workers down', () => state(leader) === 'down' && state(follower) === 'down');
    assert.ok(backend.checks - failingFrom <= 3, `down after ${backend.checks - failingFrom} failed checks`);
    // One log line per verdict for the server, from the worker whose checks decided it, naming the route.
    const lines = () => [...leader.lines, ...follower.lines].filter((l) => / -> (up|down)/.test(l));
    assert.deepEqual(lines(), [`route 0 (^/): backend ${url} up -> down: health check /health answered 503`]);

    backend.status = 200;
    await until('both workers up', () => state(leader) === 'up' && state(follower) === 'up');
    assert.deepEqual(lines(), [
      `route 0 (^/): backend ${url} up -> down: health check /health answered 503`,
      `route 0 (^/): backend ${url} down -> up: health check /health answered 200`,
    ]);
    assert.deepEqual(follower.lines, [], 'the follower says nothing of verdicts it only applies');
  });

  it('a worker started later learns the verdicts at once, without checking', async () => {
    backend = new HealthBackend();
    backend.status = 500;
    const url = await backend.listen();
    // The next interval is far away: only the answer to the new worker's hello can tell it.
    const pool = startWorkers(url, { interval: '10s', timeout: 500, fall: 1, rise: 1 });
    workers = pool.started;
    const leader = pool.start(0);
    await until('leader down', () => state(leader) === 'down');
    const late = pool.start(2);
    await until('late worker down', () => state(late) === 'down', 500);
    assert.equal(backend.checks, 1);
  });

  it('a restarted worker 0 keeps the verdicts the others hold (no flap back up)', async () => {
    backend = new HealthBackend();
    backend.status = 503;
    const url = await backend.listen();
    const pool = startWorkers(url, { interval: 50, timeout: 500, fall: 3, rise: 2 });
    workers = pool.started;
    const first = pool.start(0);
    const follower = pool.start(1);
    await until('follower down', () => state(follower) === 'down');
    await first.proxy.close?.();
    const checksBefore = backend.checks;

    const restarted = pool.start(0);
    // Before its own third failed check the new leader already holds "down", learned from worker 1.
    await until('restarted leader down', () => state(restarted) === 'down', 500);
    assert.ok(backend.checks - checksBefore < 3, 'adopted, not decided by its own checks');
    await sleep(300);
    assert.ok(backend.checks - checksBefore >= 3, 'the restarted worker 0 checks');
    assert.equal(state(follower), 'down');
    assert.doesNotMatch(follower.lines.join('\n'), /down -> up/);
    assert.deepEqual(restarted.lines, [], 'an adopted verdict is not logged again');
  });

  it('a single worker checks alone, with no channel', async () => {
    backend = new HealthBackend();
    const url = await backend.listen();
    const options = proxyPluginOptionsSchema.parse({
      routes: [{ match: '^/', backends: [url], health: { interval: 50, timeout: 500, fall: 1, rise: 1 } }],
    });
    const proxy = createProxy(options, testContext());
    workers = [{ proxy, lines: [] }];
    await until('a check', () => backend.checks > 0, 1000);
    backend.status = 502;
    await until('down', () => state(workers[0]!) === 'down');
  });
});
