/**
 * Reloading the configuration of a running server (`server.reload()`, which SIGHUP, `tamarin reload` and
 * `POST /api/reload` call): under a load of keep-alive and fresh-connection requests nothing is lost or
 * cut, the new routes answer as soon as the reload returns (on new connections and on open ones), a bad configuration is refused naming the key
 * while the old one keeps serving, and counters and health verdicts carry over.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import type { ServerStatsSnapshot } from '../src/server/counters.ts';
import { setLogSink } from '../src/server/logger.ts';
import { call } from './admin-client.ts';
import { type FakeBackend, startFakeBackend } from './helpers/fake-backend.ts';

/** A backend that answers `<name> <url>` at once. */
function named(name: string): Promise<FakeBackend> {
  return startFakeBackend({
    name,
    handler: (req: IncomingMessage, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`${name} ${req.url}`);
      return true;
    },
  });
}

interface Answer {
  status: number;
  body: string;
  close: boolean;
}

/**
 * A minimal HTTP/1.1 client on one socket: sends a request, reads one response framed by Content-Length.
 * `cut` when the socket ends or fails before the whole response arrived.
 */
class Client {
  private socket: net.Socket | null = null;
  private buffer = '';
  private waiting: ((answer: Answer | Error) => void) | null = null;
  connections = 0;
  private readonly port: number;

  constructor(port: number) {
    this.port = port;
  }

  private connect(): net.Socket {
    const socket = net.connect(this.port, '127.0.0.1');
    this.connections++;
    this.buffer = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      this.parse();
    });
    const gone = (error?: Error) => {
      // A previous connection closing later is no concern of the request on the current one.
      if (this.socket !== socket) return;
      this.socket = null;
      const waiting = this.waiting;
      this.waiting = null;
      waiting?.(
        error ?? new Error(`connection closed before the whole response (${this.buffer.length} bytes)`),
      );
    };
    socket.on('error', gone);
    socket.on('close', () => gone());
    this.socket = socket;
    return socket;
  }

  private parse(): void {
    const end = this.buffer.indexOf('\r\n\r\n');
    if (end === -1 || this.waiting === null) return;
    const head = this.buffer.slice(0, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? -1);
    if (length < 0 || this.buffer.length < end + 4 + length) return;
    const body = this.buffer.slice(end + 4, end + 4 + length);
    this.buffer = this.buffer.slice(end + 4 + length);
    const waiting = this.waiting;
    this.waiting = null;
    waiting({
      status: Number(head.slice(9, 12)),
      body,
      close: /\r\nconnection: *close/i.test(head),
    });
  }

  /** GET `target`; on a keep-alive client the connection is reused until the server says close. */
  get(target: string, keepAlive: boolean): Promise<Answer> {
    const socket = (keepAlive && this.socket) || this.connect();
    return new Promise<Answer>((resolve, reject) => {
      this.waiting = (answer) => {
        if (answer instanceof Error) reject(answer);
        else {
          if (answer.close || !keepAlive) {
            if (this.socket === socket) this.socket = null;
            socket.end();
          }
          resolve(answer);
        }
      };
      socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\n${keepAlive ? '' : 'Connection: close\r\n'}\r\n`);
    });
  }

  close(): void {
    this.socket?.destroy();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function routes(...list: Array<[string, FakeBackend]>): string {
  return list
    .map(([match, backend]) => `[[proxy.routes]]\nmatch = "${match}"\nbackends = ["${backend.url}"]\n`)
    .join('');
}

describe('reload under load', () => {
  let dir: string;
  let a: FakeBackend;
  let b: FakeBackend;
  let server: RunningServer;
  const logged: string[] = [];
  const file = () => path.join(dir, 'tamarin.toml');
  const head =
    'plugins = ["access_log", "proxy", "static"]\n[server]\nport = 0\nworkers = 2\n' +
    '[access_log]\npath = "access.log"\n[static]\nroot = "www"\n';

  before(async () => {
    setLogSink((_level, line) => logged.push(line));
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-reload-'));
    fs.mkdirSync(path.join(dir, 'www'));
    fs.writeFileSync(path.join(dir, 'www/file.txt'), 'static file\n');
    [a, b] = await Promise.all([named('A'), named('B')]);
    fs.writeFileSync(file(), head + routes(['^/api/', a]));
    server = await startServer({ configPath: file(), admin: false });
  });
  after(async () => {
    await server?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    setLogSink(null);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keep-alive and fresh connections across two reloads: no error, no cut response, new routes at once', {
    timeout: 60_000,
  }, async () => {
    let stop = false;
    const errors: string[] = [];
    const seen = { A: 0, B: 0, file: 0 };
    let answered = 0;
    const targets = ['/api/x', '/file.txt'];
    const loop = async (keepAlive: boolean, id: number) => {
      const client = new Client(server.port);
      try {
        // Bounded: the loop ends when the test says stop, or after 20,000 requests at most.
        for (let i = 0; !stop && i < 20_000; i++) {
          const target = targets[(i + id) % targets.length]!;
          try {
            const { status, body } = await client.get(target, keepAlive);
            answered++;
            if (status !== 200) errors.push(`${target}: status ${status}`);
            else if (body === 'static file\n') seen.file++;
            else if (body === 'A /api/x') seen.A++;
            else if (body === 'B /api/x') seen.B++;
            else errors.push(`${target}: unexpected body ${JSON.stringify(body)}`);
          } catch (error) {
            errors.push(`${target} (${keepAlive ? 'keep-alive' : 'fresh'}): ${(error as Error).message}`);
          }
        }
      } finally {
        client.close();
      }
    };
    const loops = [0, 1, 2].flatMap((id) => [loop(true, id), loop(false, id)]);
    // A keep-alive connection opened before the reload, idle across it.
    const kept = new Client(server.port);
    try {
      assert.equal((await kept.get('/api/x', true)).body, 'A /api/x');
      await sleep(400);
      // v2: /api/ goes to B, and a new route /new/ to B.
      fs.writeFileSync(file(), head + routes(['^/api/', b], ['^/new/', b]));
      const first = await server.reload();
      assert.deepEqual(first.changed, ['proxy']);
      // Right after the reload returns, a new connection gets the new routes.
      const fresh = new Client(server.port);
      assert.deepEqual(await fresh.get('/new/thing', false), {
        status: 200,
        body: 'B /new/thing',
        close: true,
      });
      assert.equal((await fresh.get('/api/x', false)).body, 'B /api/x');
      // ... and so does the next request on a connection opened before it, which stays open.
      assert.deepEqual(await kept.get('/new/thing', true), {
        status: 200,
        body: 'B /new/thing',
        close: false,
      });
      assert.equal(kept.connections, 1);
      await sleep(400);
      // v1 again: /new/ is gone (the static plugin answers 404), /api/ back to A.
      fs.writeFileSync(file(), head + routes(['^/api/', a]));
      await server.reload();
      assert.equal((await fresh.get('/new/thing', false)).status, 404);
      assert.equal((await fresh.get('/api/x', false)).body, 'A /api/x');
      await sleep(400);
    } finally {
      stop = true;
      kept.close();
      await Promise.all(loops);
    }
    assert.deepEqual(errors, [], `${errors.length} errors of ${answered} requests`);
    assert.ok(answered > 100, `only ${answered} requests answered`);
    assert.ok(seen.A > 0 && seen.B > 0 && seen.file > 0, JSON.stringify(seen));
    assert.match(logged.join('\n'), /reload 1: new configuration serving \(changed: proxy\)/);
    assert.match(logged.join('\n'), /reload 2: new configuration serving \(changed: proxy\)/);
  });

  it('server counters carry over a reload', async () => {
    const total = async () =>
      (await server.control('server', 'stats'))
        .map((r) => (r.result as ServerStatsSnapshot).requests)
        .reduce((x, y) => x + y, 0);
    const before = await total();
    assert.ok(before > 100);
    fs.writeFileSync(file(), head + routes(['^/api/', b]));
    await server.reload();
    assert.ok((await total()) >= before, 'counters did not start again from 0');
  });

  it('an invalid configuration is refused naming the key; the old one keeps serving', async () => {
    fs.writeFileSync(
      file(),
      head.replace('port = 0', 'port = 0\nmax_headers = "many"') + routes(['^/api/', a]),
    );
    await assert.rejects(server.reload(), (error: Error) => {
      assert.equal(error.name, 'ConfigError');
      assert.match(error.message, /^server\.max_headers: expected an integer from 1 to 10000/);
      return true;
    });
    assert.match(
      logged.join('\n'),
      /reload failed, still serving the previous configuration: config error: server\.max_headers/,
    );
    const client = new Client(server.port);
    assert.equal((await client.get('/api/x', false)).body, 'B /api/x');
    // A missing access log directory is caught before any worker tries.
    fs.writeFileSync(file(), head.replace('"access.log"', '"nowhere/access.log"') + routes(['^/api/', a]));
    await assert.rejects(server.reload(), /access_log\.path: the directory .*nowhere does not exist/);
    assert.equal((await client.get('/api/x', false)).body, 'B /api/x');
  });

  it('settings bound at start-up (port, workers, admin) are refused with the reason', async () => {
    fs.writeFileSync(file(), head.replace('workers = 2', 'workers = 3') + '[admin]\nport = 9999\n');
    await assert.rejects(server.reload(), (error: Error) => {
      assert.match(error.message, /^server\.workers: cannot change on reload \(2 → 3\): restart the server/m);
      assert.match(error.message, /^admin\.port: cannot change on reload \(9090 → 9999\)/m);
      return true;
    });
  });
});

describe('reload keeps health verdicts', () => {
  it('a backend found down stays down across a reload that changes its route table', {
    timeout: 30_000,
  }, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-reload-health-'));
    const good = await named('good');
    // Serves requests but never answers its health check: down once a check times out (1 s), and
    // without a carried-over verdict the new configuration would send it traffic until its own check
    // times out.
    const sick = await startFakeBackend({
      name: 'sick',
      handler: (req: IncomingMessage, res: ServerResponse) => {
        if (req.url === '/health') return true;
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`sick ${req.url}`);
        return true;
      },
    });
    const config = (extra: string) =>
      'plugins = ["proxy"]\n[server]\nport = 0\nworkers = 1\n' +
      `[[proxy.routes]]\nmatch = "^/"\nbackends = ["${sick.url}", "${good.url}"]\nbalancer = "round-robin"\n` +
      '[proxy.routes.health]\npath = "/health"\ninterval = "30s"\ntimeout = "1s"\nfall = 1\nrise = 1\n' +
      extra;
    const file = path.join(dir, 'tamarin.toml');
    fs.writeFileSync(file, config(''));
    const server = await startServer({ configPath: file, admin: false });
    try {
      const state = async () => {
        const [result] = await server.control('proxy', 'backends');
        const routes = result!.result as Array<{ backends: Array<{ url: string; state: string }> }>;
        return routes[0]!.backends.map((backend) => backend.state);
      };
      for (let i = 0; i < 150 && (await state())[0] !== 'down'; i++) await sleep(20);
      assert.deepEqual(await state(), ['down', 'up']);
      fs.writeFileSync(file, config(`[[proxy.routes]]\nmatch = "^/other/"\nbackends = ["${good.url}"]\n`));
      await server.reload();
      assert.deepEqual(await state(), ['down', 'up']);
      const client = new Client(server.port);
      for (let i = 0; i < 6; i++) assert.equal((await client.get(`/n${i}`, false)).body, `good /n${i}`);
    } finally {
      await server.close();
      await Promise.all([good.stop(), sick.stop()]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('POST /api/reload', () => {
  it('needs the token and same origin, answers what changed, or 422 with the config errors', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-reload-api-'));
    fs.mkdirSync(path.join(dir, 'www'));
    fs.writeFileSync(path.join(dir, 'www/a.txt'), 'a\n');
    const token = 'reload-token-0123456789';
    const file = path.join(dir, 'tamarin.toml');
    const config = (extra: string) =>
      `plugins = ["cache", "static"]\n[server]\nport = 0\n[admin]\nport = 0\ntoken = "${token}"\n[static]\nroot = "www"\n${extra}`;
    fs.writeFileSync(file, config(''));
    // In process (one worker in this thread): the same reload path as worker threads, without threads.
    const logs: string[] = [];
    setLogSink((_level, line) => logs.push(line));
    const server = await startServer({ configPath: file, inProcess: true, admin: true });
    const admin = server.admin!.url;
    const auth = { authorization: `Bearer ${token}` };
    try {
      // Two requests: a miss, then a hit, in the cache's counters.
      for (let i = 0; i < 2; i++) assert.equal((await fetch(`${server.url}/a.txt`)).status, 200);
      const hits = async () => ((await server.control('cache', 'stats'))[0]!.result as { hits: number }).hits;
      assert.equal(await hits(), 1);
      assert.equal((await call(admin, 'POST', '/api/reload')).status, 401);
      const cross = await call(admin, 'POST', '/api/reload', { ...auth, origin: 'http://evil.example' });
      assert.equal(cross.status, 403);
      fs.writeFileSync(file, config('max_age = "1m"\n'));
      const ok = await call(admin, 'POST', '/api/reload', auth);
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.json, { reloaded: true, generation: 1, changed: ['static'] });
      // A new cache instance, the same counters; the entry stored under the old [static] is not served.
      assert.equal(await hits(), 1);
      assert.equal((await fetch(`${server.url}/a.txt`)).headers.get('cache-control'), 'public, max-age=60');
      // The admin shows the configuration serving now.
      const shown = await call(admin, 'GET', '/api/config', auth);
      assert.equal(shown.json.static.max_age, 60_000);
      fs.writeFileSync(file, config('max_age = "soon"\n'));
      const bad = await call(admin, 'POST', '/api/reload', auth);
      assert.equal(bad.status, 422);
      assert.equal(bad.json.error, 'invalid_config');
      assert.match(bad.json.errors[0], /^static\.max_age: expected a duration/);
      assert.equal((await fetch(`${server.url}/a.txt`)).headers.get('cache-control'), 'public, max-age=60');
      assert.match(
        logs.join('\n'),
        /reload failed, still serving the previous configuration: .*static\.max_age/,
      );
    } finally {
      setLogSink(null);
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
