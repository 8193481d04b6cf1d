/**
 * The service files operators start from: the systemd unit passes `systemd-analyze verify` (when systemd
 * is installed) and keeps its hardening; the Dockerfile keeps what a container needs (pinned base,
 * non-root user, 0.0.0.0 inside, a health check, the build context without node_modules).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { it } from 'node:test';

const UNIT = fs.readFileSync('examples/systemd/tamarin.service', 'utf8');

function onPath(command: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir !== '' && fs.existsSync(path.join(dir, command))) return path.join(dir, command);
  }
  return null;
}

it('the systemd unit passes systemd-analyze verify (when installed)', (t) => {
  const analyze = onPath('systemd-analyze');
  if (analyze === null) {
    t.skip('systemd-analyze is not installed');
    return;
  }
  // verify insists that ExecStart's program exists: the installed command's path is swapped for Node's.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-unit-'));
  try {
    const unit = path.join(dir, 'tamarin.service');
    fs.writeFileSync(unit, UNIT.replaceAll('/usr/local/bin/tamarin', process.execPath));
    const result = spawnSync(analyze, ['verify', unit], { encoding: 'utf8', timeout: 30_000 });
    // Unknown or misspelt keys are only warnings (exit 0): any output fails the test.
    assert.equal(result.stdout + result.stderr, '');
    assert.equal(result.status, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('the systemd unit reloads with SIGHUP, drains on SIGTERM and runs unprivileged and confined', () => {
  const settings = new Map<string, string>();
  for (const line of UNIT.split('\n')) {
    const match = /^(\w+)=(.*)$/.exec(line);
    if (match) settings.set(match[1]!, match[2]!);
  }
  assert.match(settings.get('Type') ?? '', /^(simple|notify)$/);
  assert.equal(settings.get('ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(settings.get('KillSignal'), 'SIGTERM');
  assert.match(settings.get('ExecStart') ?? '', / serve --config /);
  assert.match(settings.get('User') ?? '', /^(?!root$)\w+/);
  for (const [key, value] of [
    ['NoNewPrivileges', 'true'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'true'],
    ['PrivateTmp', 'true'],
    ['CapabilityBoundingSet', 'CAP_NET_BIND_SERVICE'],
    ['AmbientCapabilities', 'CAP_NET_BIND_SERVICE'],
  ]) {
    assert.equal(settings.get(key!), value, key);
  }
  assert.ok(!settings.has('MemoryDenyWriteExecute'), "V8's JIT needs writable executable memory");
});

it('the Dockerfile: pinned base, non-root, 0.0.0.0 inside, a health check; node_modules not sent', () => {
  const lines = fs
    .readFileSync('Dockerfile', 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'));
  const from = lines.filter((line) => line.startsWith('FROM '));
  assert.ok(from.length > 0);
  for (const line of from) assert.match(line, /^FROM node:24-slim( AS \w+)?$/, 'a pinned major, not latest');
  const users = lines.filter((line) => line.startsWith('USER '));
  assert.ok(users.length > 0 && users.at(-1) !== 'USER root', 'the server does not run as root');
  assert.ok(lines.some((line) => line.startsWith('HEALTHCHECK ')));
  const cmd = lines.find((line) => line.startsWith('CMD '));
  assert.match(cmd ?? '', /"--host", "0\.0\.0\.0"/, 'reachable through a published port');
  assert.ok(lines.includes('ENTRYPOINT ["tamarin"]'));
  const ignored = fs.readFileSync('.dockerignore', 'utf8').split('\n');
  for (const entry of ['node_modules', '.git', 'dist']) assert.ok(ignored.includes(entry), entry);
});
