import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Headers } from '../http/headers.ts';
import { HttpRequest } from '../http/request.ts';
import type { ConnectionInfo, HeaderList } from '../http/types.ts';
import { FlatFields } from './fields.ts';

const CONN: ConnectionInfo = {
  id: 1,
  remoteAddress: '127.0.0.1',
  remotePort: 1,
  localAddress: '127.0.0.1',
  localPort: 2,
  requestCount: 1,
};

/** The same fields as an h2 flat list (pseudo-header fields first) and as the HTTP/1.1 parser's list. */
const REGULAR: Array<[string, string]> = [
  ['accept', '*/*'],
  ['cookie', 'a=1'],
  ['accept-encoding', 'gzip'],
  ['cookie', 'b=2'],
];
const FLAT = [':method', 'GET', ':path', '/x', ':scheme', 'https', ':authority', 'h', ...REGULAR.flat()];

function entries(list: HeaderList): Array<[string, string, string]> {
  const out: Array<[string, string, string]> = [];
  for (let i = 0; i < list.length; i++) out.push([list.name(i), list.rawName(i), list.value(i)]);
  return out;
}

describe('FlatFields', () => {
  it('reads the regular fields of the flat list exactly as Headers reads the same fields', () => {
    const flat = new FlatFields([...FLAT], 8);
    const headers = Headers.from(REGULAR);
    assert.deepEqual(entries(flat), entries(headers));
    for (const name of ['cookie', 'accept', 'missing', ':method', 'host']) {
      assert.equal(flat.get(name), headers.get(name), name);
      assert.equal(flat.getJoined(name), headers.getJoined(name), name);
      assert.deepEqual(flat.getAll(name), headers.getAll(name), name);
      assert.equal(flat.has(name), headers.has(name), name);
    }
  });

  it('sees fields appended to the list after it was made (Host from :authority)', () => {
    const list = [...FLAT];
    const flat = new FlatFields(list, 8);
    list.push('host', 'h');
    assert.equal(flat.length, 5);
    assert.equal(flat.get('host'), 'h');
  });

  it('is empty when the request has only pseudo-header fields', () => {
    const flat = new FlatFields([':method', 'GET', ':path', '/'], 4);
    assert.equal(flat.length, 0);
    assert.equal(flat.get(':method'), undefined);
  });

  it('is copied, not written through, when a plugin edits the request', () => {
    const list = [...FLAT];
    const req = new HttpRequest(
      {
        method: 'GET',
        target: '/x',
        status: 0,
        reason: '',
        versionMinor: 1,
        headers: new FlatFields(list, 8),
        contentLength: -1,
        chunked: false,
        keepAlive: true,
        expectContinue: false,
        upgrade: false,
      },
      null,
      true,
      CONN,
      1,
    );
    req.setHeader('accept', 'text/html');
    assert.equal(req.headers.get('accept'), 'text/html');
    assert.deepEqual(req.headers.getAll('cookie'), ['a=1', 'b=2']);
    assert.deepEqual(list, FLAT);
  });
});
