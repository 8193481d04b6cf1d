import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { HeaderList, Request, Response } from '../../http/types.ts';
import { startServer } from '../../main/compose.ts';
import { setLogSink } from '../../server/logger.ts';
import { testContext } from '../../server/test-context.ts';
import { clfTimestamp, escapeClf, formatCombined, formatJson } from './format.ts';
import { accessLogPlugin } from './plugin.ts';

function headers(fields: Record<string, string>): HeaderList {
  return { get: (name: string) => fields[name] } as HeaderList;
}

function request(target: string, fields: Record<string, string> = {}, versionMinor: 0 | 1 = 1): Request {
  return {
    method: 'GET',
    target,
    host: 'example.com',
    versionMinor,
    headers: headers(fields),
    connection: { remoteAddress: '192.0.2.7' },
    startTime: performance.now() - 1.5,
  } as unknown as Request;
}

function response(statusCode: number, bodyBytes: number): Response {
  return { statusCode, bodyBytes, aborted: false } as Response;
}

/** The real `setTimeout`, kept before any test mocks it. */
const realSetTimeout = setTimeout;
const realSleep = (ms: number) => new Promise((resolve) => realSetTimeout(resolve, ms));

/** The log file's text; '' while the write stream has not created it yet. */
function readLog(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

/** The log file once `done(text)` holds (its writes go through the threadpool), waiting at most 5 s. */
async function readLogWhen(file: string, done: (text: string) => boolean): Promise<string> {
  let text = readLog(file);
  for (let i = 0; i < 500 && !done(text); i++) {
    await realSleep(10);
    text = readLog(file);
  }
  return text;
}

const NOW = Date.UTC(2026, 10, 26, 8, 5, 9); // 26 Nov 2026 08:05:09 UTC

describe('access log formats', () => {
  it('timestamps in the common log format, UTC', () => {
    assert.equal(clfTimestamp(NOW), '26/Nov/2026:08:05:09 +0000');
    assert.equal(clfTimestamp(Date.UTC(2027, 0, 1, 0, 0, 0)), '01/Jan/2027:00:00:00 +0000');
  });

  it('combined format, with "-" for absent fields and no body', () => {
    assert.equal(
      formatCombined(
        request('/a?b=1', { referer: 'http://x/', 'user-agent': 'curl/8' }),
        response(200, 1234),
        NOW,
      ),
      '192.0.2.7 - - [26/Nov/2026:08:05:09 +0000] "GET /a?b=1 HTTP/1.1" 200 1234 "http://x/" "curl/8"\n',
    );
    assert.equal(
      formatCombined(request('/', {}, 0), response(304, 0), NOW),
      '192.0.2.7 - - [26/Nov/2026:08:05:09 +0000] "GET / HTTP/1.0" 304 - "-" "-"\n',
    );
  });

  it('logs the target as the client sent it, before normalisation (nginx $request)', () => {
    const req = { ...request('/b'), rawTarget: '/a/../%62' } as Request;
    assert.match(formatCombined(req, response(200, 1), NOW), /"GET \/a\/\.\.\/%62 HTTP\/1\.1"/);
    assert.equal(
      (JSON.parse(formatJson(req, response(200, 1), NOW, 0)) as { target: string }).target,
      '/a/../%62',
    );
  });

  it('a request the engine rejected before reading its line: "-" as the request, null in JSON', () => {
    const unread = { ...request(''), method: '', host: '' } as Request;
    assert.equal(
      formatCombined(unread, response(400, 19), NOW),
      '192.0.2.7 - - [26/Nov/2026:08:05:09 +0000] "-" 400 19 "-" "-"\n',
    );
    const entry = JSON.parse(formatJson(unread, response(414, 27), NOW, 0)) as Record<string, unknown>;
    assert.deepEqual([entry.method, entry.target, entry.version, entry.status], [null, null, null, 414]);
  });

  it('escapes quotes, backslashes and control bytes so a client cannot forge lines', () => {
    assert.equal(escapeClf('plain'), 'plain');
    assert.equal(escapeClf('a"b\\c\r\nd\x7f'), 'a\\"b\\\\c\\x0d\\x0ad\\x7f');
    const line = formatCombined(
      request('/', { 'user-agent': 'x"\n1.2.3.4 - - fake' }),
      response(200, 1),
      NOW,
    );
    assert.equal(line.split('\n').length, 2);
  });

  it('JSON lines', () => {
    const line = formatJson(request('/j', { 'user-agent': 'ua' }), response(404, 10), NOW, 1.23456);
    assert.ok(line.endsWith('}\n'));
    assert.deepEqual(JSON.parse(line), {
      time: '2026-11-26T08:05:09.000Z',
      remote: '192.0.2.7',
      host: 'example.com',
      method: 'GET',
      target: '/j',
      version: 'HTTP/1.1',
      status: 404,
      bytes: 10,
      duration_ms: 1.235,
      referer: null,
      user_agent: 'ua',
      aborted: false,
    });
  });
});

describe('access log plugin', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-access-log-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const context = testContext();

  // The 200 ms batch timer is mocked: a loaded machine can stretch any real wait past it (or delay the
  // write stream's open and writes past a fixed poll), so the tests move time themselves and wait for the
  // file to show what they expect.
  it('buffers lines and writes them within 200 ms, and the rest on close', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const file = path.join(dir, 'buffered.log');
    const plugin = await accessLogPlugin.create({ format: 'combined', path: file }, context);
    plugin.onResponse!(request('/1'), response(200, 1));
    plugin.onResponse!(request('/2'), response(200, 1));
    await realSleep(50);
    assert.equal(readLog(file), '', 'nothing written on the request path');
    t.mock.timers.tick(199);
    await realSleep(50);
    assert.equal(readLog(file), '', 'nor before the 200 ms');
    t.mock.timers.tick(1);
    assert.equal((await readLogWhen(file, (text) => text !== '')).split('\n').length, 3);
    plugin.onResponse!(request('/3'), response(200, 1));
    await plugin.close!();
    assert.match(readLog(file), /"GET \/3 HTTP\/1\.1"/);
  });

  it('flushes at once past 64 KiB', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const file = path.join(dir, 'big.log');
    const plugin = await accessLogPlugin.create({ format: 'json', path: file }, context);
    const long = '/' + 'x'.repeat(1000);
    for (let i = 0; i < 70; i++) plugin.onResponse!(request(long), response(200, 1));
    // The timer never fires here: what lands was written because the batch passed 64 KiB, and holds only
    // part of the lines.
    const written = await readLogWhen(file, (text) => text !== '');
    assert.ok(written.length > 64 * 1024);
    assert.ok(written.trim().split('\n').length < 70);
    await plugin.close!();
    assert.equal(readLog(file).trim().split('\n').length, 70);
  });

  it('logs real requests as JSON lines to a file relative to the config', async () => {
    setLogSink(() => {});
    const server = await startServer({
      config: {
        plugins: ['access_log'],
        server: { port: 0 },
        access_log: { format: 'json', path: 'real.log' },
      },
      configPath: path.join(dir, 'tamarin.toml'),
      inProcess: true,
    });
    try {
      const res = await fetch(server.url + '/missing', { headers: { 'user-agent': 'test-agent' } });
      assert.equal(res.status, 404);
      await res.text();
      await server.control('access_log', 'flush');
      const text = await readLogWhen(path.join(dir, 'real.log'), (written) => written.endsWith('\n'));
      const entry = JSON.parse(text) as Record<string, unknown>;
      assert.equal(entry.target, '/missing');
      assert.equal(entry.status, 404);
      assert.equal(entry.user_agent, 'test-agent');
    } finally {
      await server.close();
      setLogSink(null);
    }
  });
});
