/**
 * Builds a throw-away document root for tests: a copy of test/fixtures/static plus what git cannot hold
 * or should not (a `.git/` directory, symlinks, a large file), next to a secret outside the root that no
 * request may ever reveal. Test-only (excluded from the build by its `test-` prefix).
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES = fileURLToPath(new URL('../../test/fixtures/static/', import.meta.url));

/** Appears only in files outside the root: a response body containing it is a traversal. */
export const OUTSIDE_MARKER = 'TOP-SECRET-OUTSIDE-THE-ROOT';

export interface TestSite {
  /** The temporary directory holding `root/` and the outside files. */
  base: string;
  /** The document root. */
  root: string;
  /** A second root, for virtual-host tests. */
  otherRoot: string;
  /** Size of `root/large.bin` (above the streaming threshold). */
  largeSize: number;
  /** Contents of `root/large.bin`. */
  large: Buffer;
  remove(): void;
}

export function createTestSite(): TestSite {
  const base = mkdtempSync(join(tmpdir(), 'tamarin-static-'));
  const root = join(base, 'root');
  cpSync(FIXTURES, root, { recursive: true, preserveTimestamps: true });
  // Outside the root: a file, a directory, and a file whose name looks like a root-relative path.
  writeFileSync(join(base, 'secret.txt'), `${OUTSIDE_MARKER} file\n`);
  mkdirSync(join(base, 'outside-dir'));
  writeFileSync(join(base, 'outside-dir', 'inner.txt'), `${OUTSIDE_MARKER} inner\n`);
  writeFileSync(join(base, 'root-sibling.txt'), `${OUTSIDE_MARKER} sibling\n`);
  // `<base>/rootx/` shares the root's prefix: a naive startsWith(root) check would let it through.
  mkdirSync(join(base, 'rootx'));
  writeFileSync(join(base, 'rootx', 'prefix.txt'), `${OUTSIDE_MARKER} prefix\n`);
  // What git cannot carry.
  mkdirSync(join(root, '.git'));
  writeFileSync(join(root, '.git', 'config'), '[core]\n\tbare = false ; git-config-must-not-leak\n');
  symlinkSync(join(base, 'secret.txt'), join(root, 'link-out.txt'));
  symlinkSync('../rootx/prefix.txt', join(root, 'link-prefix.txt'));
  symlinkSync(join(base, 'outside-dir'), join(root, 'dir-out'));
  symlinkSync('hello.txt', join(root, 'link-in.txt'));
  symlinkSync('sub', join(root, 'dir-in'));
  symlinkSync('does-not-exist', join(root, 'dangling.txt'));
  // A file bigger than the streaming threshold, with a recognisable pattern.
  const large = Buffer.alloc(300 * 1024 + 123);
  for (let i = 0; i < large.length; i++) large[i] = (i * 7 + (i >> 10)) & 0xff;
  writeFileSync(join(root, 'large.bin'), large);
  const otherRoot = join(base, 'other');
  mkdirSync(otherRoot);
  writeFileSync(join(otherRoot, 'index.html'), '<p>other host</p>\n');
  writeFileSync(join(otherRoot, 'hello.txt'), 'Hello from the other host\n');
  return {
    base,
    root,
    otherRoot,
    large,
    largeSize: large.length,
    remove: () => rmSync(base, { recursive: true, force: true }),
  };
}
