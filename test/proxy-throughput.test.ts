/**
 * A short sanity check of proxied throughput (1 KiB responses over keep-alive, autocannon, 2 s each), so
 * the order of magnitude is known between real benchmark runs (`npm run bench`, pinned cores, nginx side
 * by side). Asserts only what must hold on any machine: every response is a 200 and nothing errors.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { startProxy } from './helpers/fake-backend.ts';

interface CannonResult {
  requests: { average: number; total: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (options: {
  url: string;
  connections: number;
  duration: number;
}) => Promise<CannonResult>;

/** The fastest backend there is: one pre-serialised 1 KiB response per request head. */
function fastBackend(): Promise<Server> {
  const response = Buffer.from(
    `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n${'x'.repeat(1024)}`,
  );
  const server = createServer((socket) => {
    let pending = '';
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      pending += chunk.toString('latin1');
      let end = pending.indexOf('\r\n\r\n');
      while (end !== -1) {
        pending = pending.slice(end + 4);
        socket.write(response);
        end = pending.indexOf('\r\n\r\n');
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

test('sanity throughput: proxied 1 KiB responses over keep-alive', { timeout: 20_000 }, async (t) => {
  const backend = await fastBackend();
  const backendUrl = `http://127.0.0.1:${(backend.address() as { port: number }).port}`;
  const server = await startProxy({ routes: [{ match: '^/', backends: [backendUrl] }] });
  try {
    const direct = await autocannon({ url: `${backendUrl}/`, connections: 50, duration: 2 });
    const proxied = await autocannon({ url: `${server.url}/`, connections: 50, duration: 2 });
    t.diagnostic(
      `backend alone: ${Math.round(direct.requests.average)} req/s; through the proxy: ` +
        `${Math.round(proxied.requests.average)} req/s (same process, shared cores: order of magnitude only)`,
    );
    assert.equal(proxied.errors, 0);
    assert.equal(proxied.timeouts, 0);
    assert.equal(proxied.non2xx, 0);
    assert.ok(proxied.requests.total > 100, `only ${proxied.requests.total} requests in 2 s`);
  } finally {
    await server.close();
    await new Promise((resolve) => backend.close(resolve));
  }
});
