/**
 * Varnish (Debian's /usr/sbin/varnishd) as a caching-proxy contender: foreground, one thread pool, 256 MiB
 * malloc storage, pinned to the server core with its children. Its working directory holds the shared
 * memory log that every request writes to; Varnish's documentation asks for it on tmpfs, so it goes under
 * /dev/shm when there is one (on disk, write-back of the log's pages made Varnish ~5% slower here).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { onExitCleanup, type ServerProcess, startProcess, waitForHttp } from './procs.ts';

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

/** A working directory for varnishd: on tmpfs when /dev/shm exists (removed at exit), else `fallback`. */
function varnishWorkDir(fallback: string): string {
  if (!existsSync('/dev/shm')) {
    mkdirSync(fallback, { recursive: true });
    return fallback;
  }
  const dir = mkdtempSync(join('/dev/shm', 'tamarin-bench-varnish-'));
  chmodSync(dir, 0o755); // varnishd's compiler and child run as its own unprivileged users
  onExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Starts varnishd (pinned to the server core) and waits until it answers; `workDir` is used when there is
 * no /dev/shm.
 */
export async function startVarnish(
  port: number,
  backend: string,
  fallbackDir: string,
): Promise<ServerProcess> {
  const workDir = varnishWorkDir(fallbackDir);
  const proc = startProcess('varnish', VARNISHD_PATH, varnishArgs(port, backend, workDir));
  await waitForHttp(proc, `http://127.0.0.1:${port}/`, 20_000);
  return proc;
}
