/** The example third-party plugin (examples/basic-auth) loaded from a config file, as a user would. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rawRequest } from '../src/http/test-client.ts';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { ConfigError } from '../src/server/config-errors.ts';
import { setLogSink } from '../src/server/logger.ts';

const PLUGIN = path.resolve('examples/basic-auth/plugin.ts');
const sha = (text: string) => 'sha256:' + createHash('sha256').update(text).digest('hex');
const basic = (user: string, password: string) =>
  'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

/** GET `target` exactly as written, on its own connection, and the whole reply. */
async function rawGet(port: number, target: string): Promise<string> {
  const reply = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  return reply.toString('latin1');
}

describe('example plugin: basic-auth', () => {
  let dir: string;
  let server: RunningServer;
  before(async () => {
    setLogSink(() => {});
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-example-'));
    fs.mkdirSync(path.join(dir, 'site/private'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'site/public.txt'), 'for everyone\n');
    fs.writeFileSync(path.join(dir, 'site/private/secret.txt'), 'the secret\n');
    const toml = [
      `plugins = ["static", ${JSON.stringify(path.relative(dir, PLUGIN))}]`,
      '[server]',
      'port = 0',
      '[static]',
      'root = "site"',
      '[basic_auth]',
      'paths = ["/private"]',
      '[basic_auth.users]',
      `alice = "${sha('wonderland')}"`,
    ].join('\n');
    server = await startServer({ config: toml, configPath: path.join(dir, 'tamarin.toml'), inProcess: true });
  });
  after(async () => {
    await server?.close();
    setLogSink(null);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('leaves other paths alone', async () => {
    const res = await fetch(server.url + '/public.txt');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'for everyone\n');
  });

  it('asks for a login on protected paths', async () => {
    const res = await fetch(server.url + '/private/secret.txt');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Basic realm="Restricted", charset="UTF-8"');
    assert.doesNotMatch(await res.text(), /secret/);
  });

  it('refuses a wrong password or an unknown user, accepts the right one', async () => {
    const url = server.url + '/private/secret.txt';
    assert.equal((await fetch(url, { headers: { authorization: basic('alice', 'nope') } })).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: basic('bob', 'wonderland') } })).status, 401);
    const ok = await fetch(url, { headers: { authorization: basic('alice', 'wonderland') } });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'the secret\n');
  });

  it('cannot be bypassed with encoded or dotted paths', async () => {
    for (const target of [
      '/%70rivate/secret.txt',
      '/public.txt/../private/secret.txt',
      '/x/%2e%2e/private/secret.txt',
      '//private/secret.txt',
    ]) {
      // A raw socket: fetch() would normalise the dots away before sending.
      const reply = await rawGet(server.port, target);
      assert.match(reply, /^HTTP\/1\.1 (401|400|404)/, target);
      assert.doesNotMatch(reply, /the secret/, target);
    }
  });

  it('counts refusals in every worker through control()', async () => {
    const [result] = await server.control('basic_auth', 'stats');
    assert.ok((result!.result as { failures: number }).failures >= 3);
  });

  it('its options are validated like any built-in table', async () => {
    const config = {
      plugins: [PLUGIN],
      basic_auth: { users: { alice: 'wonderland' } },
    };
    await assert.rejects(startServer({ config, inProcess: true }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.lines(), [
        'config error: basic_auth.users.alice: expected "sha256:" followed by 64 hex digits, got "wonderland"',
      ]);
      return true;
    });
  });
});
