/**
 * A compressed cache hit against a plain one, over real sockets with wrk: Tamarin with `[compress]` on
 * and its content cache (the gzip variant is encoded once, then every hit sends the stored bytes), and
 * nginx serving the same file with `gzip_static on` (a prebuilt `.gz`) and with `gzip on` (compressed per
 * request, level 6). Each case alternates round by round; the report gives the median requests/s and the
 * server's CPU per request (scheduler nanoseconds of every thread of the server process / requests).
 *
 *   node bench/compress-hit.ts [--rounds 5] [--seconds 3] [--kib 16]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import { processCpuNs } from './lib/cpu.ts';
import { findLoadTool, runLoad } from './lib/load.ts';
import { nginxVersion, startNginx } from './lib/nginx.ts';
import { freePort, installCleanup, type ServerProcess, stopAll } from './lib/procs.ts';
import { median } from './lib/stats.ts';
import { startTamarin } from './lib/tamarin.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '3' },
    kib: { type: 'string', default: '16' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const repoRoot = join(import.meta.dirname, '..');
installCleanup();

const tmp = mkdtempSync(join(tmpdir(), 'tamarin-compress-bench-'));
const root = join(tmp, 'site');
mkdirSync(root);
let text = '';
for (let i = 0; text.length < Number(values.kib) * 1024; i++)
  text += `line ${i}: some repetitive page text, ${i % 97}\n`;
text = text.slice(0, Number(values.kib) * 1024);
writeFileSync(join(root, 'page.txt'), text);
writeFileSync(join(root, 'index.html'), 'bench\n');
// nginx's gzip_static sibling; Tamarin is told to ignore siblings, so its variant is its own encoding.
writeFileSync(join(root, 'page.txt.gz'), gzipSync(text, { level: 6 }));

const tool = findLoadTool(repoRoot, 'wrk');
if (tool === undefined) throw new Error('wrk is needed (apt-get install wrk)');

interface Case {
  readonly name: string;
  readonly server: ServerProcess;
  readonly port: number;
  readonly gzip: boolean;
  readonly rps: number[];
  readonly cpuUs: number[];
}

const cases: Case[] = [];
/** Tamarin with the content cache, siblings ignored, with `[compress]` when `compress`. */
async function tamarin(compress: boolean): Promise<{ server: ServerProcess; port: number }> {
  const port = await freePort();
  const dir = join(tmp, `tamarin-${port}`);
  mkdirSync(dir);
  const config = [
    '[server]',
    'max_requests_per_connection = 1000000',
    '[access_log]',
    'enabled = false',
    '[admin]',
    'enabled = false',
    '[static]',
    'precompressed = false',
    '[cache]',
    'max_size = "64MiB"',
    ...(compress ? ['[compress]', 'encodings = ["gzip"]', 'level = { gzip = 6 }'] : []),
    '',
  ];
  return { server: await startTamarin({ repoRoot, root, port, tmp: dir, config: config.join('\n') }), port };
}

const on = await tamarin(true);
const off = await tamarin(false);
cases.push({ name: 'Tamarin hit, identity', ...on, gzip: false, rps: [], cpuUs: [] });
cases.push({ name: 'Tamarin hit, gzip', ...on, gzip: true, rps: [], cpuUs: [] });
cases.push({ name: 'Tamarin hit, compress off', ...off, gzip: false, rps: [], cpuUs: [] });
if (nginxVersion() !== undefined) {
  for (const mode of ['static', 'on'] as const) {
    const port = await freePort();
    const server = await startNginx({ kind: 'static', root, gzip: mode }, port, join(tmp, `nginx-${mode}`));
    if (mode === 'static')
      cases.push({ name: 'nginx, identity', server, port, gzip: false, rps: [], cpuUs: [] });
    cases.push({
      name: `nginx gzip_${mode === 'static' ? 'static' : 'on (per request)'}`,
      server,
      port,
      gzip: true,
      rps: [],
      cpuUs: [],
    });
  }
}

/** The `Content-Encoding` a case's request gets: the run must measure what its name says. */
function encodingOf(c: Case): Promise<string> {
  return new Promise((resolve, reject) => {
    const headers = c.gzip ? { 'accept-encoding': 'gzip' } : {};
    request(`http://127.0.0.1:${c.port}/page.txt`, { headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.headers['content-encoding'] ?? 'identity')));
    })
      .on('error', reject)
      .end();
  });
}

try {
  for (const c of cases) {
    const got = await encodingOf(c);
    if (got !== (c.gzip ? 'gzip' : 'identity')) throw new Error(`${c.name}: answered with ${got}`);
  }
  for (let round = 0; round < rounds; round++) {
    for (const c of cases) {
      const pid = c.server.child.pid!;
      const headers = c.gzip ? ['Accept-Encoding: gzip'] : [];
      const url = `http://127.0.0.1:${c.port}/page.txt`;
      // Warm: fills the cache (Tamarin: the one encoding of this variant).
      await runLoad(tool, { url, seconds: 1, connections: 4, headers });
      const before = processCpuNs([pid]);
      const result = await runLoad(tool, { url, seconds, connections: 50, headers });
      const after = processCpuNs([pid]);
      if (result.non2xx > 0 || result.socketErrors > 0) throw new Error(`${c.name}: errors in the run`);
      c.rps.push(result.rps);
      if (before !== undefined && after !== undefined && result.requests > 0)
        c.cpuUs.push((after - before) / 1000 / result.requests);
    }
  }
  const base = median(cases[0]!.cpuUs);
  console.log(
    `${values.kib} KiB text file (gzip level 6), ${rounds} alternated rounds of ${seconds} s, medians`,
  );
  console.log('case                          req/s    CPU µs/req   vs Tamarin identity hit');
  for (const c of cases) {
    const cpu = median(c.cpuUs);
    const rel = cpu === undefined || base === undefined ? '' : `${(cpu / base).toFixed(2)}x`;
    console.log(
      `${c.name.padEnd(28)} ${String(Math.round(median(c.rps) ?? 0)).padStart(7)}   ${(cpu ?? Number.NaN).toFixed(2).padStart(9)}   ${rel}`,
    );
  }
} finally {
  await stopAll();
  rmSync(tmp, { recursive: true, force: true });
}
