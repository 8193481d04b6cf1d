import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { withConfigBlock } from '../scripts/sync-readme-config.ts';

const root = new URL('../', import.meta.url);

test('the README config reference is tamarin.example.toml, word for word', () => {
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  const example = readFileSync(new URL('tamarin.example.toml', root), 'utf8');
  assert.equal(readme, withConfigBlock(readme, example), 'run `node scripts/sync-readme-config.ts`');
});

test('the README quick start is the two commands that work on a fresh machine', () => {
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  assert.match(readme, /npm ci && npm start/);
  assert.match(readme, /npm test/);
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8'));
  assert.equal(pkg.scripts.start, 'node src/cli.ts serve');
  assert.match(pkg.scripts.test, /tsc --noEmit|typecheck/);
});

test("the README's CLI block is `tamarin --help`, word for word", () => {
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  const block = /## CLI\n\n```\n([\s\S]*?)```\n/.exec(readme)?.[1];
  const help = execFileSync(process.execPath, [new URL('src/cli.ts', root).pathname, '--help'], {
    encoding: 'utf8',
  });
  assert.equal(block, help, 'paste the output of `node src/cli.ts --help` into the README');
});
