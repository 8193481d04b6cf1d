import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { cgroupCpuLimit, cgroupPaths, cpusFromCfs, cpusFromCpuMax, usableCpus } from './cpus.ts';

test('cgroup v2 cpu.max: quota / period rounded up, at least 1; "max" is no limit', () => {
  const cases: Array<[string, number | null]> = [
    ['max 100000\n', null],
    ['200000 100000\n', 2],
    ['150000 100000\n', 2], // 1.5 CPUs: two workers, each throttled a little
    ['50000 100000\n', 1], // half a CPU still runs one worker
    ['1000 100000', 1],
    ['400000 50000', 8],
    ['', null],
    ['garbage 100000', null],
    ['0 100000', null],
  ];
  for (const [text, expected] of cases) assert.equal(cpusFromCpuMax(text), expected, JSON.stringify(text));
});

test('cgroup v1 CFS quota: -1 is no limit', () => {
  assert.equal(cpusFromCfs('-1\n', '100000\n'), null);
  assert.equal(cpusFromCfs('300000\n', '100000\n'), 3);
  assert.equal(cpusFromCfs('25000', '100000'), 1);
  assert.equal(cpusFromCfs('x', '100000'), null);
});

test('/proc/self/cgroup: the v2 path and the v1 cpu controller path', () => {
  const hybrid = '9:name=systemd:/\n4:memory:/x\n2:cpuacct:/\n1:cpu:/\n0::/\n';
  assert.deepEqual(cgroupPaths(hybrid), { v2: '/', v1cpu: '/' });
  assert.deepEqual(cgroupPaths('0::/system.slice/tamarin.service\n'), {
    v2: '/system.slice/tamarin.service',
    v1cpu: null,
  });
  assert.deepEqual(cgroupPaths('3:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n'), {
    v2: null,
    v1cpu: '/docker/abc',
  });
});

test('the tightest cpu.max from the process cgroup up to the mount; v1 quota; none', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-cgroup-'));
  try {
    fs.mkdirSync(path.join(root, 'system.slice/tamarin.service'), { recursive: true });
    fs.writeFileSync(path.join(root, 'cpu.max'), 'max 100000\n');
    fs.writeFileSync(path.join(root, 'system.slice/cpu.max'), '300000 100000\n');
    fs.writeFileSync(path.join(root, 'system.slice/tamarin.service/cpu.max'), 'max 100000\n');
    const self = '0::/system.slice/tamarin.service\n';
    assert.equal(cgroupCpuLimit({ root, self }), 3, 'the parent slice limits the service');
    fs.writeFileSync(path.join(root, 'system.slice/tamarin.service/cpu.max'), '120000 100000\n');
    assert.equal(cgroupCpuLimit({ root, self }), 2);

    fs.mkdirSync(path.join(root, 'cpu/docker/abc'), { recursive: true });
    fs.writeFileSync(path.join(root, 'cpu/docker/abc/cpu.cfs_quota_us'), '200000\n');
    fs.writeFileSync(path.join(root, 'cpu/docker/abc/cpu.cfs_period_us'), '100000\n');
    assert.equal(cgroupCpuLimit({ root, self: '1:cpu,cpuacct:/docker/abc\n' }), 2);

    assert.equal(cgroupCpuLimit({ root, self: '0::/elsewhere\n' }), null, 'only "max" above it');
    assert.equal(cgroupCpuLimit({ root, self: null }), null, 'not Linux');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('usable CPUs: affinity bounded by the quota, at least 1', () => {
  assert.equal(usableCpus(16, null), 16);
  assert.equal(usableCpus(16, 2), 2);
  assert.equal(usableCpus(1, 4), 1, 'affinity (taskset, cpuset) is tighter');
  assert.equal(usableCpus(0, null), 1);
  // On this machine: whatever the real cgroup says, never more than the affinity mask allows.
  assert.ok(usableCpus() <= os.availableParallelism());
});
