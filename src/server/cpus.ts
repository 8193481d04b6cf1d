/**
 * How many CPUs this process may really use, for `workers = 0`: the smallest of the affinity mask (what
 * `taskset` or a container's cpuset allows: `os.availableParallelism()` reads it through libuv's
 * `sched_getaffinity`) and the cgroup CPU quota (Docker's `--cpus`, Kubernetes' CPU limit, systemd's
 * `CPUQuota=`), which the kernel enforces by throttling and no core count shows. Without the quota, a
 * container limited to 2 CPUs on a 64-core host would start 64 workers that fight over 2 CPUs' worth of
 * time.
 */
import fs from 'node:fs';
import os from 'node:os';

/**
 * CPUs allowed by a cgroup v2 `cpu.max` ("<quota> <period>" in microseconds, or "max <period>"), rounded
 * up and at least 1; null when it sets no limit or cannot be read.
 */
export function cpusFromCpuMax(text: string): number | null {
  const [quota, period = '100000'] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max') return null;
  return cpusFromQuota(Number(quota), Number(period));
}

/**
 * CPUs allowed by cgroup v1's `cpu.cfs_quota_us` / `cpu.cfs_period_us` (quota -1: no limit), rounded up
 * and at least 1; null when there is no limit.
 */
export function cpusFromCfs(quotaText: string, periodText: string): number | null {
  return cpusFromQuota(Number(quotaText.trim()), Number(periodText.trim()));
}

function cpusFromQuota(quota: number, period: number): number | null {
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return null;
  return Math.max(1, Math.ceil(quota / period));
}

/**
 * The cgroup of this process from `/proc/self/cgroup`: the v2 path (line `0::/path`) and the v1 path of
 * the `cpu` controller (line `N:cpu,cpuacct:/path`), each null when absent.
 */
export function cgroupPaths(text: string): { v2: string | null; v1cpu: string | null } {
  let v2: string | null = null;
  let v1cpu: string | null = null;
  for (const line of text.split('\n')) {
    const [id, controllers, ...rest] = line.split(':');
    if (id === undefined || controllers === undefined || rest.length === 0) continue;
    const where = rest.join(':');
    if (id === '0' && controllers === '') v2 = where;
    else if (controllers.split(',').includes('cpu')) v1cpu = where;
  }
  return { v2, v1cpu };
}

/** Where the cgroup files are read (a parameter so that tests can point it at a fixture tree). */
export interface CgroupFs {
  /** The cgroup mount (`/sys/fs/cgroup`). */
  root: string;
  /** Contents of `/proc/self/cgroup`, or null (not Linux). */
  self: string | null;
}

function read(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/**
 * The cgroup CPU limit of this process, or null when none applies. cgroup v2: the `cpu.max` of the
 * process's cgroup and of every parent up to the mount (the tightest wins; a container usually sees its
 * own cgroup as the root). cgroup v1: the cpu controller's CFS quota.
 */
export function cgroupCpuLimit(
  where: CgroupFs = { root: '/sys/fs/cgroup', self: read('/proc/self/cgroup') },
): number | null {
  if (where.self === null) return null;
  const { v2, v1cpu } = cgroupPaths(where.self);
  let limit: number | null = null;
  const tighter = (cpus: number | null) => {
    if (cpus !== null && (limit === null || cpus < limit)) limit = cpus;
  };
  if (v2 !== null) {
    // Walk from the process's cgroup up to the mount: a parent's limit binds its children too.
    let dir = v2.replace(/\/+$/, '');
    for (;;) {
      const text = read(`${where.root}${dir}/cpu.max`);
      if (text !== null) tighter(cpusFromCpuMax(text));
      if (dir === '' || dir === '/') break;
      dir = dir.slice(0, dir.lastIndexOf('/'));
    }
  }
  if (v1cpu !== null) {
    for (const base of [
      `${where.root}/cpu${v1cpu}`,
      `${where.root}/cpu,cpuacct${v1cpu}`,
      `${where.root}/cpu`,
    ]) {
      const quota = read(`${base}/cpu.cfs_quota_us`);
      const period = read(`${base}/cpu.cfs_period_us`);
      if (quota !== null && period !== null) {
        tighter(cpusFromCfs(quota, period));
        break;
      }
    }
  }
  return limit;
}

/** CPUs this process may use: the affinity mask, bounded by the cgroup quota. At least 1. */
export function usableCpus(
  affinity = os.availableParallelism(),
  quota: number | null = cgroupCpuLimit(),
): number {
  return Math.max(1, quota === null ? affinity : Math.min(affinity, quota));
}
