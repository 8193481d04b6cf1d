import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TamarinConfig } from '../server/config.ts';
import { certificateSource } from './api.ts';

/** A configuration with only what `certificateSource` reads. */
const withAcme = (acme: unknown) => ({ tls: { acme } }) as unknown as TamarinConfig;

describe('where a served certificate comes from', () => {
  const acme = { names: ['example.com', 'www.example.com'], storage: 'acme' };

  it('says acme for the file the ACME manager keeps, wherever its relative storage was resolved', () => {
    assert.equal(certificateSource(withAcme(acme), '/etc/tamarin/acme/example.com.pem'), 'acme');
    assert.equal(
      certificateSource(
        withAcme({ ...acme, storage: '/var/lib/tamarin' }),
        '/var/lib/tamarin/example.com.pem',
      ),
      'acme',
    );
  });

  it('says file for configured certificates, and without [tls.acme]', () => {
    assert.equal(certificateSource(withAcme(acme), '/etc/tamarin/certs/example.com.pem'), 'file');
    assert.equal(certificateSource(withAcme(acme), '/etc/tamarin/notacme/example.com.pem'), 'file');
    assert.equal(certificateSource({} as TamarinConfig, '/etc/tamarin/acme/example.com.pem'), 'file');
  });
});
