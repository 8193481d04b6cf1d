/**
 * TLS and HTTP/2 cache hits against nginx with the same certificate, on this machine: a 1 KiB file over
 * HTTPS with keep-alive (wrk, 50 connections) and over HTTP/2 (h2load, 10 connections x 10 streams).
 * One Tamarin worker and one nginx worker pinned to the server core, the load tool to the other.
 *
 *   node bench/tls.ts [--seconds 10]
 *
 * Targets (issue): HTTPS >= 0.8x nginx, HTTP/2 >= 0.7x nginx.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { findLoadTool, runLoad } from './lib/load.ts';
import { NGINX_PATH, nginxConfig } from './lib/nginx.ts';
import {
  freePort,
  installCleanup,
  LOAD_CORE,
  type ServerProcess,
  startProcess,
  stopProcess,
  taskset,
  waitForHttp,
} from './lib/procs.ts';
import { startTamarin } from './lib/tamarin.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '10' } } });
const seconds = Math.max(1, Math.round(Number(values.seconds)));
const repoRoot = join(import.meta.dirname, '..');
installCleanup();

const tmp = mkdtempSync(join(tmpdir(), 'tamarin-bench-tls-'));
const root = join(tmp, 'site');
mkdirSync(root);
writeFileSync(join(root, '1k.txt'), Buffer.alloc(1024, 0x61));
const cert = join(tmp, 'cert.pem');
const key = join(tmp, 'key.pem');
execFileSync(
  'openssl',
  [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-days',
    '2',
    '-keyout',
    key,
    '-out',
    cert,
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost',
  ],
  { stdio: 'ignore' },
);

/** h2load's requests per second ("finished in 10.00s, 41234.50 req/s, ..."). */
function h2load(url: string): Promise<number> {
  const [command, args] = taskset(LOAD_CORE, 'h2load', ['-c', '10', '-m', '10', '-D', String(seconds), url]);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('error', reject);
    child.on('close', () => {
      const rps = /finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(out)?.[1];
      const failed = /(\d+) failed/.exec(out)?.[1];
      if (rps === undefined) reject(new Error(`h2load output not understood:\n${out}`));
      // With -D, the streams still in flight when time is up count as failed: at most 10 x 10 of them.
      else if (failed !== undefined && Number(failed) > 100)
        reject(new Error(`h2load: ${failed} requests failed`));
      else resolve(Number(rps));
    });
  });
}

async function measure(name: string, tlsPort: number): Promise<{ name: string; https: number; h2: number }> {
  const url = `https://127.0.0.1:${tlsPort}/1k.txt`;
  const tool = findLoadTool(repoRoot, 'wrk');
  if (tool === undefined) throw new Error('wrk is not installed (apt-get install wrk)');
  await runLoad(tool, { url, seconds: 1, connections: 50 }); // warm: the cache stores the file
  const https = (await runLoad(tool, { url, seconds, connections: 50 })).rps;
  const h2 = await h2load(url);
  return { name, https, h2 };
}

const results: Array<{ name: string; https: number; h2: number }> = [];
let proc: ServerProcess | null = null;
try {
  const plainPort = await freePort();
  const tlsPort = await freePort();
  proc = await startTamarin({
    repoRoot,
    root,
    port: plainPort,
    tmp,
    config: [
      'plugins = ["cache", "static"]',
      '[server]',
      `listen = [{ port = ${plainPort} }, { port = ${tlsPort}, tls = true }]`,
      '[tls]',
      `cert = "${cert}"`,
      `key = "${key}"`,
      '[admin]',
      'enabled = false',
    ].join('\n'),
  });
  results.push(await measure('tamarin', tlsPort));
  await stopProcess(proc);
  proc = null;

  const nginxPort = await freePort();
  const nginxTls = await freePort();
  const prefix = join(tmp, 'nginx');
  mkdirSync(prefix, { recursive: true });
  const conf = nginxConfig({ kind: 'static', root }, nginxPort, prefix).replace(
    `    listen 127.0.0.1:${nginxPort};\n`,
    `    listen 127.0.0.1:${nginxPort};\n    listen 127.0.0.1:${nginxTls} ssl http2;\n` +
      `    ssl_certificate ${cert};\n    ssl_certificate_key ${key};\n` +
      '    ssl_protocols TLSv1.2 TLSv1.3;\n    ssl_session_cache shared:SSL:10m;\n',
  );
  writeFileSync(join(prefix, 'nginx.conf'), conf);
  proc = startProcess('nginx', NGINX_PATH, [
    '-p',
    prefix,
    '-c',
    join(prefix, 'nginx.conf'),
    '-e',
    join(prefix, 'error.log'),
  ]);
  await waitForHttp(proc, `http://127.0.0.1:${nginxPort}/`, 10_000);
  results.push(await measure('nginx', nginxTls));
} finally {
  if (proc !== null) await stopProcess(proc);
  rmSync(tmp, { recursive: true, force: true });
}

const [t, n] = results;
console.log(`1 KiB cache hit, ${seconds}s per run, one worker each`);
console.log('server    https keep-alive (wrk -c50)   h2 (h2load -c10 -m10)');
for (const r of results)
  console.log(
    `${r.name.padEnd(9)} ${r.https.toFixed(0).padStart(12)} req/s ${r.h2.toFixed(0).padStart(18)} req/s`,
  );
if (t !== undefined && n !== undefined) {
  console.log(
    `tamarin / nginx: https ${(t.https / n.https).toFixed(2)}x (target 0.8x), h2 ${(t.h2 / n.h2).toFixed(2)}x (target 0.7x)`,
  );
}
