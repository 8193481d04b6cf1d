import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Headers } from '../http/headers.ts';
import { normaliseValue, parseVary, VaryIndex, variantKey } from './vary.ts';

const h = (entries: Array<[string, string]>) => Headers.from(entries);

test('§4.1 Vary names: case, duplicates, order, *', () => {
  assert.deepEqual(parseVary('Accept-Encoding, accept-language,ACCEPT-ENCODING'), [
    'accept-encoding',
    'accept-language',
  ]);
  assert.equal(parseVary('Accept, *'), '*');
  assert.equal(parseVary(undefined), null);
  assert.equal(parseVary(' , '), null);
});

test('§4.1 normalisation: lines combined, whitespace and case removed where meaningless', () => {
  const a = h([['accept-encoding', 'GZIP ,  br']]);
  const b = h([
    ['accept-encoding', 'gzip'],
    ['accept-encoding', 'br'],
  ]);
  assert.equal(normaliseValue('accept-encoding', a), normaliseValue('accept-encoding', b));
  assert.notEqual(
    normaliseValue('x-token', h([['x-token', 'A']])),
    normaliseValue('x-token', h([['x-token', 'a']])),
  );
  assert.equal(variantKey('u', ['accept-encoding'], a), variantKey('u', ['accept-encoding'], b));
  assert.notEqual(variantKey('u', ['accept-encoding'], a), variantKey('u', ['accept-encoding'], h([])));
});

test('index: variants per URL; a changed Vary list drops the old variants', () => {
  const index = new VaryIndex();
  assert.deepEqual(index.add('u', ['accept'], 'u\na=1'), []);
  assert.deepEqual(index.add('u', ['accept'], 'u\na=2'), []);
  assert.deepEqual(index.variants('u').sort(), ['u\na=1', 'u\na=2']);
  assert.deepEqual(index.add('u', ['accept-language'], 'u\nl=1').sort(), ['u\na=1', 'u\na=2']);
  index.remove('u', 'u\nl=1');
  assert.equal(index.names('u'), undefined);
  assert.equal(index.size, 0);
});
