/**
 * The dashboard's files, read once when the admin starts and served from memory: our HTML, CSS and
 * script (src/admin/assets/), and uPlot from its npm package (a runtime dependency), so nothing comes
 * from a CDN and nothing is built at run time.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface Asset {
  readonly body: Buffer;
  readonly type: string;
  /** Strong validator (RFC 9110 §8.8.3) from the content hash. */
  readonly etag: string;
}

// In the source tree this module sits beside assets/; in the built package it is dist/admin/*.js and the
// assets stay in src/admin/assets (package.json "files").
const ASSET_DIR = new URL(
  import.meta.url.endsWith('.ts') ? './assets/' : '../../src/admin/assets/',
  import.meta.url,
);

/** The page's script: `dashboard.js` and the modules it imports (browser ES modules, no bundler). */
const SCRIPTS = [
  'dashboard.js',
  'state.js',
  'format.js',
  'plots.js',
  'charts.js',
  'tiles.js',
  'tables.js',
  'panels.js',
  'policy.js',
  'tls.js',
  'bans.js',
];

const OURS: ReadonlyArray<readonly [route: string, file: string, type: string]> = [
  ['/', 'index.html', 'text/html; charset=utf-8'],
  ...SCRIPTS.map((file) => [`/assets/${file}`, file, 'text/javascript; charset=utf-8'] as const),
  ['/assets/dashboard.css', 'dashboard.css', 'text/css; charset=utf-8'],
  ['/assets/favicon.svg', 'favicon.svg', 'image/svg+xml'],
];

const UPLOT: ReadonlyArray<readonly [route: string, file: string, type: string]> = [
  ['/assets/uplot.js', 'uplot/dist/uPlot.iife.min.js', 'text/javascript; charset=utf-8'],
  ['/assets/uplot.css', 'uplot/dist/uPlot.min.css', 'text/css; charset=utf-8'],
];

function asset(body: Buffer, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** Load every dashboard file; throws with the missing file's path when the installation is incomplete. */
export function loadAssets(): ReadonlyMap<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [route, file, type] of OURS) {
    assets.set(route, asset(readFileSync(fileURLToPath(new URL(file, ASSET_DIR))), type));
  }
  const require = createRequire(import.meta.url);
  for (const [route, file, type] of UPLOT)
    assets.set(route, asset(readFileSync(require.resolve(file)), type));
  return assets;
}
