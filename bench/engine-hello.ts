/**
 * Micro-benchmark of the engine's per-request path: "hello world" from our engine vs node:http, each in its
 * own process, loaded by wrk (or autocannon when wrk is missing) for a couple of seconds with keep-alive.
 * A check that a change did not add per-request waste, not a benchmark to quote (see `npm run bench`).
 *
 *   node bench/engine-hello.ts [seconds=1] [connections=50]
 */
import { execFileSync, spawn } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { createEngine, DEFAULT_LIMITS, DEFAULT_TIMEOUTS } from '../src/http/engine.ts';

const BODY = Buffer.from('hello world\n');

function startServer(kind: string): void {
  let server: net.Server;
  if (kind === 'engine') {
    const engine = createEngine(
      {
        limits: DEFAULT_LIMITS,
        timeouts: DEFAULT_TIMEOUTS,
        maxConnections: 10_000,
        maxRequestsPerConnection: 1e9,
      },
      {
        onRequest(_req, res) {
          res.setHeader('Content-Type', 'text/plain');
          res.end(BODY);
        },
      },
    );
    server = net.createServer({ allowHalfOpen: true, noDelay: true }, (s) => engine.handleSocket(s));
  } else if (kind === 'raw') {
    // The ceiling: no parsing beyond finding the end of each head, one pre-built response per request.
    const response = Buffer.from(
      `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${BODY.length}\r\n\r\n${BODY}`,
    );
    server = net.createServer({ noDelay: true }, (s) => {
      s.on('error', () => {});
      s.on('data', (d: Buffer) => {
        let n = 0;
        for (let i = d.indexOf('\r\n\r\n'); i !== -1; i = d.indexOf('\r\n\r\n', i + 4)) n++;
        s.write(n === 1 ? response : Buffer.concat(Array(n).fill(response)));
      });
    });
  } else {
    server = http.createServer({ keepAliveTimeout: 5000 }, (_req, res) => {
      res.setHeader('Content-Type', 'text/plain');
      res.end(BODY);
    });
  }
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${(server.address() as net.AddressInfo).port}\n`);
  });
}

function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return (err as { status?: number }).status === 1; // wrk --version exits 1 after printing
  }
}

async function load(port: number, seconds: number, connections: number): Promise<number> {
  if (hasWrk()) {
    const out = execFileSync(
      'wrk',
      ['-t1', `-c${connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`],
      {
        encoding: 'utf8',
      },
    );
    const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
    return m === null ? 0 : Number(m[1]);
  }
  // autocannon ships no types; the name is held in a variable so the import stays untyped on purpose.
  const name = 'autocannon';
  const { default: autocannon } = await import(name);
  const result = await autocannon({ url: `http://127.0.0.1:${port}/`, connections, duration: seconds });
  return result.requests.average as number;
}

async function measure(kind: string, seconds: number, connections: number): Promise<number> {
  const child = spawn(process.execPath, [import.meta.filename, 'serve', kind], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once('exit', () => reject(new Error(`${kind} server exited`)));
    });
    return await load(port, seconds, connections);
  } finally {
    child.kill();
  }
}

if (process.argv[2] === 'serve') {
  startServer(process.argv[3] ?? 'engine');
} else {
  const seconds = Number(process.argv[2] ?? 1);
  const connections = Number(process.argv[3] ?? 50);
  const engine = await measure('engine', seconds, connections);
  const node = await measure('node:http', seconds, connections);
  const raw = await measure('raw', seconds, connections);
  console.log(`raw net    ${raw.toFixed(0)} req/s (ceiling: no parsing, one pre-built buffer)`);
  console.log(`engine     ${engine.toFixed(0)} req/s (${(engine / raw).toFixed(2)}x raw)`);
  console.log(`node:http  ${node.toFixed(0)} req/s`);
  console.log(`ratio      ${(engine / node).toFixed(2)}x`);
}
