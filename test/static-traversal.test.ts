/**
 * Path safety over real sockets: dozens of traversal attempts against a root that has a secret next to it,
 * symlinks leading out of it, dotfiles and a `.git/` directory inside it. Every answer must have the
 * expected status and none may carry a byte from outside the root.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parseResponses, rawRequest } from '../src/http/test-client.ts';
import { type RunningServer, startServer } from '../src/main/compose.ts';
import { createTestSite, OUTSIDE_MARKER, type TestSite } from '../src/static/test-site.ts';

let site: TestSite;
let server: RunningServer;
let listingServer: RunningServer;

before(async () => {
  site = createTestSite();
  server = await startServer({
    config: { plugins: ['static'], static: { root: site.root }, server: { port: 0 } },
    inProcess: true,
  });
  listingServer = await startServer({
    config: { plugins: ['static'], static: { root: site.root, listing: true }, server: { port: 0 } },
    inProcess: true,
  });
});

after(async () => {
  await server?.close();
  await listingServer?.close();
  site?.remove();
});

/** Strings that only appear in files the server must never send. */
const FORBIDDEN = [OUTSIDE_MARKER, 'root:x:0:0', 'must-not-leak', 'bare = false'];

async function get(port: number, target: string) {
  // latin1 keeps every character of the target as the one byte written here (raw `\`, `;` and so on).
  const bytes = Buffer.from(
    `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
    'latin1',
  );
  const [response] = parseResponses(await rawRequest(port, bytes));
  assert.ok(response, `no response for ${target}`);
  return response;
}

// [request-target as sent, expected status]
const ATTEMPTS: Array<[string, number]> = [
  // plain dot-dot segments: resolved by the engine (as nginx does) when they stay inside the root,
  // refused when they climb above it
  ['/../secret.txt', 400],
  ['/../../../../../../etc/passwd', 400],
  ['/sub/../../secret.txt', 400],
  ['/./../secret.txt', 400],
  ['/.//..//secret.txt', 400],
  ['/..', 400],
  ['/../root-sibling.txt', 400],
  ['/../rootx/prefix.txt', 400],
  // percent-encoded dots, any case, any mix
  ['/%2e%2e/secret.txt', 400],
  ['/%2E%2E/secret.txt', 400],
  ['/.%2e/secret.txt', 400],
  ['/%2e./secret.txt', 400],
  ['/%2e%2e', 400],
  ['/sub/%2e%2e/%2e%2e/secret.txt', 400],
  // double encoding decodes once: a literal name "%2e%2e" that does not exist
  ['/%252e%252e/secret.txt', 404],
  ['/%252e%252e%252fsecret.txt', 404],
  ['/%25252e%25252e/secret.txt', 404],
  // encoded separators inside a segment
  ['/..%2fsecret.txt', 400],
  ['/..%2Fsecret.txt', 400],
  ['/%2e%2e%2fsecret.txt', 400],
  ['/sub%2f..%2f..%2fsecret.txt', 400],
  ['/%2e%2e%2f%2e%2e%2fetc%2fpasswd', 400],
  ['/%2fetc%2fpasswd', 400],
  ['/.git%2fconfig', 400],
  // backslashes, raw and encoded
  ['/%5c..%5csecret.txt', 400],
  ['/..%5csecret.txt', 400],
  ['/..%5Csecret.txt', 400],
  ['/..\\secret.txt', 400],
  ['/sub\\..\\..\\secret.txt', 400],
  // absolute-path tricks: an empty segment never restarts at the file-system root
  ['//secret.txt', 404],
  ['//etc/passwd', 404],
  ['/etc/passwd', 404],
  ['///../secret.txt', 400],
  ['http://localhost/../secret.txt', 400],
  // NUL and other control characters
  ['/hello.txt%00.html', 400],
  ['/hello.txt%00', 400],
  ['/%00', 400],
  ['/sub/..%00/secret.txt', 400],
  ['/hello%0a.txt', 400],
  ['/hello%7f.txt', 400],
  // overlong UTF-8 and other invalid encodings
  ['/%c0%ae%c0%ae/secret.txt', 400],
  ['/%c0%2e%c0%2e/secret.txt', 400],
  ['/%e0%80%ae%e0%80%ae/secret.txt', 400],
  ['/%c0%af', 400],
  ['/%c1%9c', 400],
  ['/%uff0e%uff0e/secret.txt', 400],
  ['/%', 400],
  ['/%2', 400],
  ['/%zz', 400],
  ['/%ff', 400],
  // unicode look-alikes are plain names
  ['/%ef%bc%8e%ef%bc%8e/secret.txt', 404],
  ['/%e2%80%ae/secret.txt', 404],
  // names that only look special
  ['/..;/secret.txt', 400], // `..` to a servlet container (path parameter cut off): refused
  ['/.../secret.txt', 404],
  ['/....//secret.txt', 404],
  // symlinks leading out of the root (policy "inside")
  ['/link-out.txt', 404],
  ['/link-prefix.txt', 404],
  ['/dir-out/inner.txt', 404],
  ['/dir-out/', 404],
  ['/dir-out', 404],
  ['/dangling.txt', 404],
  // dotfiles (policy "deny")
  ['/.env', 404],
  ['/.git/config', 404],
  ['/.git/', 404],
  ['/%2egit/config', 404],
  ['/%2eenv', 404],
  ['/sub/../.env', 404],
];

describe('traversal attempts', () => {
  for (const [target, status] of ATTEMPTS) {
    test(`${target} → ${status}`, async () => {
      const response = await get(server.port, target);
      assert.equal(response.status, status, `${target}: ${response.body.toString()}`);
      const body = response.body.toString('latin1');
      for (const secret of FORBIDDEN) assert.ok(!body.includes(secret), `${target} leaked ${secret}`);
    });
  }

  test('listings never show or follow what is hidden or outside', async () => {
    for (const [target, status] of [
      ['/dir-out/', 404],
      ['/.git/', 404],
      ['/%2e%2e/', 400],
    ] as const) {
      const response = await get(listingServer.port, target);
      assert.equal(response.status, status, target);
      assert.ok(!response.body.toString().includes(OUTSIDE_MARKER));
    }
    const root = (await get(listingServer.port, '/nolisting/')).body.toString();
    assert.match(root, /a\.txt/);
    // `/sub/../` is `/` once normalised: the root's listing, nothing from outside.
    const top = await get(listingServer.port, '/sub/../');
    assert.equal(top.status, 200);
    assert.ok(!top.body.toString().includes(OUTSIDE_MARKER));
  });
});

describe('the same tricks on legitimate files still work', () => {
  const OK: Array<[string, string]> = [
    ['/hello.txt', 'Hello, Tamarin!\n'],
    ['/./hello.txt', 'Hello, Tamarin!\n'],
    ['//hello.txt', 'Hello, Tamarin!\n'],
    ['/%68ello.txt', 'Hello, Tamarin!\n'],
    ['/sub/./page.html', '<!doctype html><title>page</title><p>sub page</p>\n'],
    ['/sub/../hello.txt', 'Hello, Tamarin!\n'],
    ['/sub/%2e%2e/hello.txt', 'Hello, Tamarin!\n'],
    ['/link-in.txt', 'Hello, Tamarin!\n'],
    ['/dir-in/page.html', '<!doctype html><title>page</title><p>sub page</p>\n'],
    ['/file%20with%20spaces.txt', 'a file with spaces in its name\n'],
    [`/${encodeURIComponent('ünïcödé.txt')}`, 'unicode name\n'],
    [`/${encodeURIComponent('日本語.txt')}`, 'japanese name\n'],
    ['/.well-known/security.txt', 'Contact: mailto:security@example.com\n'],
  ];
  for (const [target, body] of OK) {
    test(`${target} → 200`, async () => {
      const response = await get(server.port, target);
      assert.equal(response.status, 200, target);
      assert.equal(response.body.toString(), body);
    });
  }
});
