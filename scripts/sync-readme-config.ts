/**
 * Copies tamarin.example.toml into README.md between the config markers, so the README's config reference
 * is the example file itself. `test/readme.test.ts` fails when they drift; run
 * `node scripts/sync-readme-config.ts` to mend it.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const root = new URL('../', import.meta.url);
export const BEGIN = '<!-- config:begin -->';
export const END = '<!-- config:end -->';

/** The README text with the example config between the markers. */
export function withConfigBlock(readme: string, exampleToml: string): string {
  const start = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (start < 0 || end < start) throw new Error('README.md: config markers missing');
  const block = '\n```toml\n' + exampleToml.trimEnd() + '\n```\n';
  return readme.slice(0, start + BEGIN.length) + block + readme.slice(end);
}

if (import.meta.main) {
  const readmeUrl = new URL('README.md', root);
  const readme = readFileSync(readmeUrl, 'utf8');
  const example = readFileSync(new URL('tamarin.example.toml', root), 'utf8');
  writeFileSync(readmeUrl, withConfigBlock(readme, example));
}
