/**
 * Varnish (Debian's /usr/sbin/varnishd) as a caching-proxy contender: foreground, one thread pool, 256 MiB
 * malloc storage, its working directory in a temp dir, pinned to the server core with its children.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { type ServerProcess, startProcess, waitForHttp } from './procs.ts';

export const VARNISHD_PATH = '/usr/sbin/varnishd';

/** The varnishd version ("7.1.1"), or `undefined` when Varnish is not installed. */
export function varnishVersion(): string | undefined {
  if (!existsSync(VARNISHD_PATH)) return undefined;
  const out = spawnSync(VARNISHD_PATH, ['-V'], { encoding: 'utf8', timeout: 5000 });
  return /varnish-(\S+)/.exec(`${out.stdout}${out.stderr}`)?.[1];
}

/** varnishd arguments for a cache in front of `backend` ("http://127.0.0.1:B"), listening on `port`. */
export function varnishArgs(port: number, backend: string, workDir: string): string[] {
  return [
    '-F',
    '-a',
    `127.0.0.1:${port}`,
    '-b',
    backend.replace(/^http:\/\//, ''),
    '-s',
    'malloc,256m',
    '-n',
    workDir,
    '-p',
    'thread_pools=1',
    // The management CLI is not needed; keep it off any public interface.
    '-T',
    '127.0.0.1:0',
  ];
}

/** Starts varnishd (pinned to the server core) and waits until it answers. */
export async function startVarnish(port: number, backend: string, workDir: string): Promise<ServerProcess> {
  mkdirSync(workDir, { recursive: true });
  const proc = startProcess('varnish', VARNISHD_PATH, varnishArgs(port, backend, workDir));
  await waitForHttp(proc, `http://127.0.0.1:${port}/`, 20_000);
  return proc;
}
