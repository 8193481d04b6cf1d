/**
 * Access log templates: compiled once, unknown variables refused with the key named, and over real
 * sockets the cache status, upstream address and times of each request.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { startFakeBackend } from '../../../test/helpers/fake-backend.ts';
import type { Response } from '../../http/types.ts';
import { startServer } from '../../main/compose.ts';
import { ConfigError, resolveConfig } from '../../server/config.ts';
import { setLogSink } from '../../server/logger.ts';
import { fakeRequest } from '../../static/test-fakes.ts';
import { compileTemplate } from './template.ts';

describe('access log templates', () => {
  it('formats variables, headers and literals; escapes what the client sent', () => {
    const template = compileTemplate(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: nginx writes variables as ${name} too
      '$remote_addr "$request" $status $body_bytes_sent "${http_x_trace}" $sent_http_content_type $upstream_cache_status',
    );
    const req = fakeRequest('GET', '/a?b=1', { host: 'h', 'x-trace': 'a"b' });
    const res = {
      statusCode: 200,
      bodyBytes: 12,
      cacheStatus: 'HIT',
      getHeader: (name: string) => (name === 'content-type' ? 'text/plain' : undefined),
    } as unknown as Response;
    assert.equal(
      template.format(req, res, 0, 1.5),
      '127.0.0.1 "GET /a?b=1 HTTP/1.1" 200 12 "a\\"b" text/plain HIT\n',
    );
  });

  it('refuses an unknown variable at start-up, naming the key', async () => {
    await assert.rejects(
      resolveConfig({ plugins: ['access_log'], access_log: { format: '$remote_addr $nope' } }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /access_log\.format: unknown variable \$nope \(known: /.test(error.message),
    );
    await assert.rejects(
      resolveConfig({ plugins: ['access_log'], access_log: { format: 'plain' } }),
      /access_log\.format: expected "combined", "json" or a template/,
    );
  });

  it('logs cache status, upstream address and times over real sockets', async () => {
    setLogSink(() => {});
    const dir = mkdtempSync(join(tmpdir(), 'tamarin-log-template-'));
    writeFileSync(join(dir, 'a.txt'), 'a\n');
    const log = join(dir, 'access.log');
    const backend = await startFakeBackend();
    const server = await startServer({
      inProcess: true,
      config: {
        plugins: ['access_log', 'cache', 'proxy', 'static'],
        server: { host: '127.0.0.1', port: 0 },
        access_log: {
          path: log,
          format:
            '$request_uri $status $upstream_cache_status $upstream_addr $upstream_response_time $request_time',
        },
        static: { root: dir },
        proxy: {
          routes: [
            { match: '^/api/', backends: [backend.url] },
            { match: '^/cached/', backends: [backend.url], cache: true },
          ],
        },
      },
    });
    try {
      for (const path of ['/a.txt', '/a.txt', '/api/x', '/cached/y'])
        await (await fetch(server.url + path)).text();
    } finally {
      await server.close();
      await backend.stop();
      setLogSink(null);
    }
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    rmSync(dir, { recursive: true, force: true });
    assert.match(lines[0]!, /^\/a\.txt 200 MISS - - \d+\.\d{3}$/);
    assert.match(lines[1]!, /^\/a\.txt 200 HIT - - \d+\.\d{3}$/);
    assert.match(
      lines[2]!,
      new RegExp(`^/api/x 200 MISS ${backend.url.replaceAll('.', '\\.')} \\d+\\.\\d{3} \\d+\\.\\d{3}$`),
    );
  });
});
