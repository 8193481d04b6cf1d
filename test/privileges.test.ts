/**
 * `[server] user` / `group`: the process leaves root once its listeners are bound (checked in
 * /proc/<pid>/status of a real `tamarin serve`, every thread), and a user that does not exist, or a switch
 * asked of a process that is not root, is a config error naming the key.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../src/server/config-errors.ts';
import { findAccount, resolveIdentity } from '../src/server/privileges.ts';

const CLI = path.resolve('src/cli.ts');
const isRoot = process.getuid?.() === 0;

it('finds an account by name or numeric id in passwd/group text', () => {
  const passwd =
    'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n';
  assert.deepEqual(findAccount(passwd, 'nobody'), { name: 'nobody', id: 65534, gid: 65534 });
  assert.deepEqual(findAccount(passwd, '0'), { name: 'root', id: 0, gid: 0 });
  assert.equal(findAccount(passwd, 'nobod'), null);
  assert.deepEqual(findAccount('nogroup:x:65534:\n', 'nogroup'), { name: 'nogroup', id: 65534 });
});

it('an unknown user or group, or a group alone, is a config error naming the key', () => {
  const issues = (server: { user?: string; group?: string }) => {
    try {
      resolveIdentity(server);
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      return error.lines();
    }
    return [];
  };
  assert.deepEqual(resolveIdentity({}), null);
  assert.ok(
    issues({ user: 'no-such-user-tamarin' }).includes(
      'config error: server.user: no such user on this system, got "no-such-user-tamarin"',
    ),
  );
  assert.ok(
    issues({ user: 'nobody', group: 'no-such-group-tamarin' }).includes(
      'config error: server.group: no such group on this system, got "no-such-group-tamarin"',
    ),
  );
  assert.deepEqual(issues({ group: 'nogroup' }), [
    'config error: server.group: needs server.user (the user to run as)',
  ]);
  if (isRoot)
    assert.deepEqual(resolveIdentity({ user: 'nobody' }), { user: 'nobody', uid: 65534, gid: 65534 });
});

describe('tamarin serve with user = "nobody"', { skip: !isRoot && 'needs root' }, () => {
  let dir = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-user-'));
    fs.chmodSync(dir, 0o755);
    fs.mkdirSync(path.join(dir, 'www'));
    fs.writeFileSync(path.join(dir, 'www/hello.txt'), 'hello\n');
    fs.writeFileSync(
      path.join(dir, 'tamarin.toml'),
      '[server]\nuser = "nobody"\nport = 0\nworkers = 2\n[admin]\nport = 0\n[static]\nroot = "www"\n',
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('serves as nobody: every thread of the process has left root', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--config', 'tamarin.toml'], { cwd: dir });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      let stderr = '';
      child.stderr.setEncoding('utf8');
      const url = await new Promise<string>((resolve, reject) => {
        child.stderr.on('data', (chunk: string) => {
          stderr += chunk;
          const match = / at (http:\/\/127\.0\.0\.1:\d+) [\s\S]*admin token .*\n/.exec(stderr);
          if (match) resolve(match[1]!);
        });
        child.once('exit', () => reject(new Error(`exited: ${stderr}`)));
      });
      assert.match(stderr, /running as user nobody \(uid 65534, gid 65534\)/);
      const tasks = fs.readdirSync(`/proc/${child.pid}/task`);
      assert.ok(tasks.length > 2, 'worker threads are there');
      for (const task of tasks) {
        const status = fs.readFileSync(`/proc/${child.pid}/task/${task}/status`, 'utf8');
        assert.match(status, /^Uid:\t65534\t65534\t65534\t65534$/m, `thread ${task}`);
        assert.match(status, /^Gid:\t65534\t65534\t65534\t65534$/m, `thread ${task}`);
        assert.match(status, /^Groups:\t65534 ?$/m, `thread ${task}: root's groups are gone`);
      }
      const res = await fetch(url + '/hello.txt');
      assert.equal(await res.text(), 'hello\n');
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      clearTimeout(timer);
      child.kill('SIGKILL');
    }
  });

  it('check and serve refuse a user switch when not started as root (exit 2, naming the key)', () => {
    for (const command of ['check', 'serve']) {
      const result = spawnSync(process.execPath, [CLI, command, '--config', 'tamarin.toml'], {
        cwd: dir,
        uid: 65534,
        gid: 65534,
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(result.status, 2, result.stderr);
      assert.match(
        result.stderr,
        /^config error: server\.user: switching to another user needs root \(running as uid 65534\)/m,
      );
    }
  });
});
