import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDictionary } from './structured-fields.ts';

/** Valid dictionaries (RFC 8941 §3.2, §4.2.2) → their members as `key=type:value`. */
const valid: Array<[string, string]> = [
  ['max-age=60', 'max-age=integer:60'],
  ['  max-age=60  ', 'max-age=integer:60'],
  ['no-store, max-age=60', 'no-store=boolean:true max-age=integer:60'],
  ['a=1,b=2\t,  c', 'a=integer:1 b=integer:2 c=boolean:true'],
  ['a=1, a=2', 'a=integer:2'],
  ['a=?0', 'a=boolean:false'],
  ['a=-12.345', 'a=decimal:-12.345'],
  ['a="x \\"y\\" \\\\"', 'a=string:x "y" \\'],
  ['a=tok/en:x*', 'a=token:tok/en:x*'],
  ['a=:aGk=:', 'a=bytes:aGk='],
  ['a=(1 "b" c);p=1, d;q', 'a=inner-list:1,b,c d=boolean:true'],
  ['a=1;p="x";q', 'a=integer:1'],
  ['*k.-_9=1', '*k.-_9=integer:1'],
  ['a=999999999999999', 'a=integer:999999999999999'],
  ['', ''],
];

/** Invalid fields: the whole value fails. */
const invalid = [
  'max-age=10000, &&&&&',
  'max-age=60,',
  ',max-age=60',
  'Max-Age=60',
  'max-age = 60',
  'max-age=60 no-store',
  'a=1.',
  'a=1.2345',
  'a=1234567890123.5',
  'a=1234567890123456',
  'a="unterminated',
  'a="bad \\x escape"',
  'a="é"',
  'a=?2',
  'a=:not base64!:',
  'a=(1 2',
  'a=(1,2)',
  'a=1;',
  'a=1;P=2',
  'a=-',
  '1a=2',
];

for (const [input, expected] of valid) {
  test(`sf-dictionary: ${JSON.stringify(input)}`, () => {
    const dictionary = parseDictionary(input);
    assert.notEqual(dictionary, null);
    const shown = [...dictionary!].map(([key, v]) => {
      const value = v.type === 'inner-list' ? v.value.map((item) => String(item.value)).join(',') : v.value;
      return `${key}=${v.type}:${String(value)}`;
    });
    assert.equal(shown.join(' '), expected);
  });
}

for (const input of invalid) {
  test(`sf-dictionary rejects ${JSON.stringify(input)}`, () => {
    assert.equal(parseDictionary(input), null);
  });
}
