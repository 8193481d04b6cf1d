/**
 * `[server] user` / `group`: start as root (to bind ports below 1024, open root-owned log files), then
 * run as an unprivileged user, as nginx's master does for its workers. Tamarin's workers are threads of
 * one process, so the whole process switches, once every listener is bound. Checked before anything
 * starts (by `tamarin check` too): an unknown user or group, or a switch asked of a process that is not
 * root, is a config error naming the key.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { ConfigError, type ConfigIssue } from './config-errors.ts';

/** A user or group as the system knows it. */
interface Account {
  name: string;
  id: number;
  /** A user's primary group. */
  gid?: number;
}

/** One `name:x:id:gid:...` entry of `getent` output or an /etc file, by name or numeric id. */
export function findAccount(text: string, wanted: string): Account | null {
  for (const line of text.split('\n')) {
    const [name, , id, gid] = line.split(':');
    if (name === undefined || id === undefined || !/^\d+$/.test(id)) continue;
    if (name === wanted || id === wanted) {
      const account: Account = { name, id: Number(id) };
      if (gid !== undefined && /^\d+$/.test(gid)) account.gid = Number(gid);
      return account;
    }
  }
  return null;
}

/** Look a user or group up through NSS (`getent`: LDAP and the like too), else in /etc/passwd or /etc/group. */
function lookUp(database: 'passwd' | 'group', wanted: string): Account | null {
  try {
    return findAccount(
      execFileSync('getent', [database, wanted], { encoding: 'utf8', timeout: 5000 }),
      wanted,
    );
  } catch (error) {
    // getent exits 2 for an unknown key; anything else (no getent): read the file.
    if ((error as { status?: number }).status === 2) return null;
  }
  try {
    return findAccount(fs.readFileSync(`/etc/${database}`, 'utf8'), wanted);
  } catch {
    return null;
  }
}

/** Who the process becomes: uid, gid and the user name (for its supplementary groups). */
export interface Identity {
  user: string;
  uid: number;
  gid: number;
}

/**
 * Resolve `[server] user` / `group` into an {@link Identity}, or null when neither is set. Throws a
 * `ConfigError` naming the key: unknown user or group, group without user, or not running as root.
 */
export function resolveIdentity(server: {
  user?: string | undefined;
  group?: string | undefined;
}): Identity | null {
  if (server.user === undefined && server.group === undefined) return null;
  const issues: ConfigIssue[] = [];
  if (server.user === undefined) {
    throw new ConfigError([{ path: 'server.group', message: 'needs server.user (the user to run as)' }]);
  }
  const user = lookUp('passwd', server.user);
  if (user === null)
    issues.push({ path: 'server.user', message: 'no such user on this system', input: server.user });
  let gid = user?.gid;
  if (server.group !== undefined) {
    const group = lookUp('group', server.group);
    if (group === null) {
      issues.push({ path: 'server.group', message: 'no such group on this system', input: server.group });
    }
    gid = group?.id;
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : -1;
  if (uid !== 0) {
    issues.push({
      path: 'server.user',
      message:
        `switching to another user needs root (running as uid ${uid}); start as root, or remove the key ` +
        'and run as that user directly (ports below 1024: CAP_NET_BIND_SERVICE, see docs/production.md)',
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { user: user!.name, uid: user!.id, gid: gid ?? user!.id };
}

/** Become `identity` for good: supplementary groups, then group, then user (root can no longer come back). */
export function dropPrivileges(identity: Identity): void {
  // The user's own supplementary groups instead of root's (initgroups is in Node, not in its types).
  const proc = process as NodeJS.Process & { initgroups?: (user: string, extraGroup: number) => void };
  if (proc.initgroups !== undefined) proc.initgroups(identity.user, identity.gid);
  else process.setgroups!([identity.gid]);
  process.setgid!(identity.gid);
  process.setuid!(identity.uid);
}
