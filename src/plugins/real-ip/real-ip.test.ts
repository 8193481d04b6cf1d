/**
 * `real_ip`: the client address behind trusted proxies, from X-Forwarded-For read right to left; the
 * header of an untrusted peer is ignored; IPv4 and IPv6 networks; what the access log then shows.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { rawRequest } from '../../http/test-client.ts';
import { startServer } from '../../main/compose.ts';
import { ConfigError, resolveConfig } from '../../server/config.ts';
import { setLogSink } from '../../server/logger.ts';
import { AddressList } from '../shared/cidr.ts';
import { clientFrom } from './plugin.ts';

describe('real_ip', () => {
  const trusted = new AddressList(['10.0.0.0/8', '127.0.0.1', '2001:db8::/32']);

  it('takes the rightmost address that is not a trusted proxy', () => {
    assert.equal(clientFrom(['1.1.1.1, 10.0.0.5'], '127.0.0.1', trusted), '1.1.1.1');
    assert.equal(
      clientFrom(['6.6.6.6, 2.2.2.2, 10.1.1.1'], '127.0.0.1', trusted),
      '2.2.2.2',
      'a spoofed left entry',
    );
    assert.equal(
      clientFrom(['6.6.6.6', '2.2.2.2'], '127.0.0.1', trusted),
      '2.2.2.2',
      'repeated fields in order',
    );
    assert.equal(
      clientFrom(['10.0.0.1, 10.0.0.2'], '127.0.0.1', trusted),
      '10.0.0.1',
      'all trusted: leftmost',
    );
    assert.equal(clientFrom(['2001:db8::7, 2a00::1'], '127.0.0.1', trusted), '2a00::1');
    assert.equal(clientFrom(['[2a00::2]:443'], '127.0.0.1', trusted), '2a00::2');
    assert.equal(clientFrom(['1.2.3.4:5678'], '127.0.0.1', trusted), '1.2.3.4');
    assert.equal(clientFrom(['::ffff:3.3.3.3'], '127.0.0.1', trusted), '3.3.3.3');
    assert.equal(clientFrom(['junk, 10.0.0.9'], '127.0.0.1', trusted), '10.0.0.9', 'garbage stops the walk');
    assert.equal(clientFrom(['not-an-ip'], '127.0.0.1', trusted), '127.0.0.1');
  });

  it('matches IPv4, IPv6 and IPv4-mapped peers', () => {
    assert.ok(trusted.has('10.200.3.4'));
    assert.ok(trusted.has('::ffff:10.200.3.4'));
    assert.ok(trusted.has('2001:db8:1::1'));
    assert.ok(!trusted.has('2001:db9::1'));
    assert.ok(!trusted.has('11.0.0.1'));
    assert.ok(!trusted.has('garbage'));
  });

  async function logged(trustedList: string[], xff: string): Promise<string> {
    setLogSink(() => {});
    const dir = mkdtempSync(join(tmpdir(), 'tamarin-real-ip-'));
    const log = join(dir, 'access.log');
    const server = await startServer({
      inProcess: true,
      config: {
        plugins: ['real_ip', 'access_log', 'static'],
        server: { host: '127.0.0.1', port: 0 },
        access_log: { path: log, format: 'json' },
        static: { root: dir },
        real_ip: { trusted: trustedList },
      },
    });
    try {
      await rawRequest(
        server.port,
        `GET / HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: ${xff}\r\nConnection: close\r\n\r\n`,
        { timeoutMs: 2000 },
      );
    } finally {
      await server.close();
      setLogSink(null);
    }
    const line = JSON.parse(readFileSync(log, 'utf8').trim().split('\n').at(-1)!) as { remote: string };
    rmSync(dir, { recursive: true, force: true });
    return line.remote;
  }

  it('the access log shows the forwarded client behind a trusted peer, the peer otherwise', async () => {
    assert.equal(await logged(['127.0.0.0/8'], '9.9.9.9, 203.0.113.7'), '203.0.113.7');
    assert.equal(
      await logged(['10.0.0.0/8'], '203.0.113.7'),
      '127.0.0.1',
      'an untrusted peer’s header is ignored',
    );
  });

  it('rejects a bad network, naming the key', async () => {
    await assert.rejects(
      resolveConfig({ plugins: ['real_ip'], real_ip: { trusted: ['10.0.0.0/33'] } }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /real_ip\.trusted\[0\]: expected an IP address or CIDR/.test(error.message),
    );
  });
});
