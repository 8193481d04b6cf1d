import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REDACTED, redactConfig } from './redact.ts';

describe('redactConfig', () => {
  it('replaces secrets by key at any depth and keeps everything else', () => {
    const config = {
      server: { port: 8080, workers: 2 },
      admin: { token: 'abcdefghijklmnopqrstuvwxyz', port: 9090 },
      upstream: { headers: [{ name: 'x', api_key: 'k-123' }], Authorization: 'Bearer x', password: '' },
      db: { client_secret: 's', private_key: 'p' },
    };
    const out = redactConfig(config) as typeof config;
    assert.equal(out.admin.token, REDACTED);
    assert.equal(out.admin.port, 9090);
    assert.equal(out.upstream.headers[0]!.api_key, REDACTED);
    assert.equal(out.upstream.Authorization, REDACTED);
    assert.equal(out.upstream.password, '', 'an empty value hides nothing');
    assert.equal(out.db.client_secret, REDACTED);
    assert.equal(out.db.private_key, REDACTED);
    assert.deepEqual(out.server, config.server);
    assert.ok(!JSON.stringify(out).includes('abcdefghijklmnopqrstuvwxyz'));
  });

  it('strips credentials from URLs and turns non-JSON values into JSON', () => {
    const out = redactConfig({
      url: 'http://user:pw@backend:8080/x',
      plain: 'http://backend:8080/',
      pattern: /^\/api\//,
      limit: Number.POSITIVE_INFINITY,
      fn: () => 1,
    }) as Record<string, unknown>;
    assert.equal(out.url, `http://backend:8080/x (credentials ${REDACTED})`);
    assert.equal(out.plain, 'http://backend:8080/');
    assert.equal(out.pattern, '^\\/api\\/');
    assert.equal(out.limit, null);
    assert.equal('fn' in out, false);
  });
});
