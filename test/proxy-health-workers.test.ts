/**
 * Active health checks with worker threads: once per server (worker 0 checks, the others follow its
 * verdicts), every worker agreeing, and a crashed worker 0 resuming the checks without forgetting them.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import type { RouteSnapshot } from '../src/proxy/plugin.ts';
import { setLogSink } from '../src/server/logger.ts';
import { type FakeBackend, fetchText, sleep, startFakeBackend } from './helpers/fake-backend.ts';

/** Crashes its worker on demand and says which thread it runs in. */
const PROBE = `
import { threadId } from 'node:worker_threads';
import { definePlugin, z } from ${JSON.stringify(path.resolve('src/index.ts'))};
export default definePlugin({
  name: 'probe',
  options: z.strictObject({}),
  create: (_options, context) => ({
    name: 'probe',
    control(command, args) {
      if (command === 'whoami') return threadId;
      if (command === 'crash' && args === context.workerId) {
        setImmediate(() => { throw new Error('planned crash'); });
      }
      return null;
    },
  }),
});
`;

const INTERVAL = 100;
const FALL = 3;

describe('health checks with 2 workers', () => {
  let dir: string;
  let server: RunningServer;
  let a: FakeBackend;
  let b: FakeBackend;
  let checks = 0;
  let healthStatus = 200;
  const logged: string[] = [];
  let restoreStderr = () => {};

  /** State of backend `a` as each worker holds it (the admin API's per-worker backend table). */
  const states = async (): Promise<string[]> =>
    (await server.control('proxy', 'backends')).map(
      (r) => (r.result as RouteSnapshot[] | undefined)?.[0]?.backends[0]?.state ?? `error: ${r.error}`,
    );
  const until = async (what: string, condition: () => Promise<boolean>, ms = 4000) => {
    const deadline = Date.now() + ms;
    while (!(await condition())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}: ${await states()}`);
      await sleep(15);
    }
  };
  const allAre = (state: string) => async () => (await states()).every((s) => s === state);

  before(async () => {
    setLogSink((_level, line) => logged.push(line));
    // Workers log in their own threads; their stderr reaches this thread's process.stderr.
    const write = process.stderr.write.bind(process.stderr);
    restoreStderr = () => {
      process.stderr.write = write;
    };
    process.stderr.write = ((chunk: string | Uint8Array) => {
      logged.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-health-'));
    fs.writeFileSync(path.join(dir, 'probe.mjs'), PROBE);
    a = await startFakeBackend({
      name: 'a',
      handler: (req, res) => {
        if (req.url !== '/health') return false;
        checks++;
        res.writeHead(healthStatus, { 'content-length': '0' }).end();
        return true;
      },
    });
    b = await startFakeBackend({ name: 'b' });
    server = await startServer({
      config: {
        plugins: ['./probe.mjs', 'proxy'],
        server: { host: '127.0.0.1', port: 0, workers: 2, shutdown_timeout: '2s' },
        proxy: {
          routes: [
            {
              match: '^/',
              backends: [a.url, b.url],
              health: { interval: INTERVAL, timeout: 500, fall: FALL, rise: 2 },
            },
          ],
        },
      },
      configPath: path.join(dir, 'tamarin.toml'),
      admin: false,
    });
  });
  after(async () => {
    await server?.close();
    await a?.stop();
    await b?.stop();
    setLogSink(null);
    restoreStderr();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a backend sees one check per interval, not one per worker', async () => {
    await until('a first check', async () => checks > 0);
    const from = checks;
    await sleep(10 * INTERVAL);
    // One checker: ~10 in 10 intervals (fewer on a loaded machine); one per worker would be ~20.
    const seen = checks - from;
    assert.ok(seen >= 4 && seen <= 13, `${seen} checks in ${10 * INTERVAL} ms`);
  });

  it('when it fails, every worker takes it down after `fall` checks and sends nothing to it', async () => {
    healthStatus = 503;
    const from = checks;
    await until('every worker marks a down', allAre('down'));
    const failed = checks - from;
    assert.ok(failed >= FALL && failed <= FALL + 1, `all workers down after ${failed} failed checks`);
    // New connections spread over both workers: none goes to a.
    for (let i = 0; i < 20; i++) {
      const res = await fetchText(`${server.url}/r${i}`);
      assert.equal(res.headers['x-backend'], 'b');
    }
  });

  it('a crashed worker 0 is restarted, keeps the verdict and resumes the checks', async () => {
    const [before0] = await server.control('probe', 'whoami');
    await server.control('probe', 'crash', 0);
    await until('worker 0 restarted', async () => {
      const [now0] = await server.control('probe', 'whoami');
      return now0?.result !== undefined && now0.result !== before0?.result;
    });
    assert.deepEqual(await states(), ['down', 'down'], 'the restarted worker 0 learned "down"');
    const from = checks;
    await sleep(6 * INTERVAL);
    const seen = checks - from;
    assert.ok(seen >= 2 && seen <= 8, `${seen} checks in ${6 * INTERVAL} ms after the restart`);
    assert.deepEqual(await states(), ['down', 'down']);
    const log = logged.join('');
    // Once for the server (by worker 0, whose checks decided it), not once per worker; the restarted
    // worker 0 adopted the verdict without logging it again.
    const down = log.match(/\[w\d\] proxy: warning: route 0 \(\^\/\): backend \S+ up -> down: .*/g) ?? [];
    assert.deepEqual(
      down.map((line) => line.slice(0, line.indexOf(']') + 1)),
      ['[w0]'],
      log,
    );
    assert.doesNotMatch(log, /down -> up/, 'no worker flapped back up');
  });

  it('when it recovers, every worker brings it back after `rise` checks', async () => {
    healthStatus = 200;
    await until('every worker marks a up', allAre('up'));
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++)
      seen.add(String((await fetchText(`${server.url}/s${i}`)).headers['x-backend']));
    assert.deepEqual([...seen].sort(), ['a', 'b']);
    const up = logged.join('').match(/\[w\d\] proxy: route 0 \(\^\/\): backend \S+ down -> up: .*/g) ?? [];
    assert.equal(up.length, 1, logged.join(''));
  });
});
