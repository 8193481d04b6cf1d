/**
 * The run's header: date, CPU model, core count, kernel, Node, nginx, Varnish and load-generator versions.
 * Ratios are what the report quotes; these lines say where they were measured.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import type { LoadTool } from './load.ts';
import { nginxVersion } from './nginx.ts';
import { LOAD_CORE, pinningAvailable, SERVER_CORE } from './procs.ts';
import { varnishVersion } from './varnish.ts';

/** The first `model name` in /proc/cpuinfo text (`undefined` when absent, e.g. on ARM). */
export function parseCpuModel(cpuinfo: string): string | undefined {
  return /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim();
}

function cpuModel(): string {
  try {
    return parseCpuModel(readFileSync('/proc/cpuinfo', 'utf8')) ?? 'unknown CPU';
  } catch {
    return 'unknown CPU';
  }
}

function toolVersion(tool: LoadTool): string {
  if (tool.kind === 'autocannon')
    return 'autocannon (a Node.js load generator; wrk is preferred: `apt-get install wrk`)';
  // `wrk -v` prints its banner and exits 1.
  const out = spawnSync(tool.path, ['-v'], { encoding: 'utf8', timeout: 5000 });
  const version = /wrk (\S+)/.exec(`${out.stdout}${out.stderr}`)?.[1];
  return version ? `wrk ${version}` : 'wrk';
}

/** Markdown lines describing the machine and the setup. */
export function systemInfo(tool: LoadTool, connections: number): string[] {
  return [
    `- Date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `- CPU: ${cpuModel()} (${availableParallelism()} cores), Linux ${release()}`,
    `- Node ${process.version}; nginx ${nginxVersion() ?? 'not installed'}; Varnish ${varnishVersion() ?? 'not installed'}`,
    `- Load: ${toolVersion(tool)}, ${connections} keep-alive connections, 1 thread` +
      (pinningAvailable()
        ? `; server under test on core ${SERVER_CORE}, load generator on core ${LOAD_CORE}`
        : '; NOT pinned (taskset missing)'),
  ];
}
