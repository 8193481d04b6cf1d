/**
 * The dashboard in a real browser driven by playwright-core: the system's Chromium when there is one
 * (Debian's /usr/bin/chromium, or TAMARIN_TEST_CHROMIUM), else the headless Chromium that the npm
 * devDependency @sparticuz/chromium ships (unpacked to the temp directory on first use), so that `npm ci &&
 * npm test` needs nothing beyond Node and npm; skipped when neither starts. Loads the page from the admin
 * of a 2-worker server with two virtual hosts, sends traffic to the main listener, and checks what an
 * operator would see: the live indicator and the faded "reconnecting" state across an admin restart, the
 * top row and the charts filling, dark mode and a phone-sized window, the entries table (hosts apart,
 * search, pages, a row's purge limited to its host, purge by prefix and tag), "Clear cache…" needing the
 * typed word (Enter alone does nothing), the token prompt, and the backends table with its rates, chart
 * and drain/enable buttons; the eviction policy's choice and its timeline, the TLS certificates (one close
 * to expiry, flagged) with connections and requests by protocol, and the bans (added from the form, an
 * invalid expression refused with the API's reason, purge by tag of a tagged proxied response). Any
 * console error (a CSP violation, a script error) fails the test.
 * Screenshots of each state go to test-output/ for humans.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import type { AdminOptions } from '../src/admin/options.ts';
import { type AdminService, startAdmin } from '../src/admin/service.ts';
import { adminContributions, type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';
import { createTestCa } from './helpers/certs.ts';

/** The system browser, tried first; a path that does not exist (e.g. "none") forces the npm-shipped one. */
const SYSTEM_CHROMIUM = process.env.TAMARIN_TEST_CHROMIUM || '/usr/bin/chromium';

/** The browser to drive, and its environment. */
interface Browser {
  executablePath: string;
  env: Record<string, string | undefined>;
}

/**
 * The system's browser when present; else the one @sparticuz/chromium ships, with the NSS and expat
 * libraries it also ships (for Amazon Linux) first on the library path, so that it starts on a machine
 * that never installed a browser (a minimal Debian has no libnss3).
 */
async function browser(): Promise<Browser> {
  if (fs.existsSync(SYSTEM_CHROMIUM)) return { executablePath: SYSTEM_CHROMIUM, env: process.env };
  const { default: shipped, inflate } = await import('@sparticuz/chromium');
  // The package takes an existing <tmpdir>/chromium as unpacked: one cut short (an interrupted run) is
  // truncated and would never start. The real binary is about 200 MB.
  const unpacked = path.join(os.tmpdir(), 'chromium');
  if (fs.existsSync(unpacked) && fs.statSync(unpacked).size < 64 * 1024 * 1024) fs.rmSync(unpacked);
  const bin = fileURLToPath(new URL('../bin/', import.meta.resolve('@sparticuz/chromium')));
  const [executablePath, libraries] = await Promise.all([
    shipped.executablePath(bin),
    inflate(path.join(bin, 'al2023.tar.br')),
  ]);
  const libraryPath = [path.join(libraries, 'lib'), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  return { executablePath, env: { ...process.env, LD_LIBRARY_PATH: libraryPath } };
}

const OUTPUT = path.resolve('test-output');
const FIXTURES = path.resolve('test/fixtures/static');
const FILES = ['/index.html', '/hello.txt', '/app.js', '/bytes.bin', '/only-gzip.css'];
/** Files of each virtual host: more than one page of the entries table (15 rows). */
const HOST_FILES = 12;

/** The browser, or null (the suite is skipped) when neither the system's nor the npm-shipped one starts. */
const found = await browser().catch(() => null);

/** GET `target` from the main listener with a Host header (fetch may not set one); resolves the status. */
function get(port: number, target: string, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { port, host: '127.0.0.1', path: target, headers: { host }, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
  });
}

/** Fetch every fixture `rounds` times from the main listener (hits after the first round), and one 404. */
async function traffic(port: number, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await Promise.all([...FILES.map((file) => get(port, file)), get(port, '/missing.txt')]);
  }
}

/** Every file of both virtual hosts, `rounds` times. */
async function hostTraffic(port: number, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const files = ['/', ...Array.from({ length: HOST_FILES }, (_, n) => `/page-${n}.html`)];
    await Promise.all(files.flatMap((file) => [get(port, file, 'a.test'), get(port, file, 'b.test')]));
  }
}

/** A numeric `data-*` attribute of an element. */
async function dataNumber(page: Page, selector: string, name: string): Promise<number> {
  return Number(await page.locator(selector).getAttribute(`data-${name}`));
}

// Page-side globals for the functions playwright runs in the page (the project's types have no DOM lib).
declare const document: {
  getElementById(id: string): { dataset: Record<string, string | undefined> } | null;
  documentElement: { scrollWidth: number };
  body: unknown;
  activeElement: { id: string } | null;
};
declare const window: { innerWidth: number };
declare function getComputedStyle(element: unknown): { backgroundColor: string };

/** Wait for the connection indicator to reach `state` (`live`, `down`). */
async function waitForState(page: Page, state: string): Promise<void> {
  await page.locator(`#conn[data-state="${state}"]`).waitFor({ timeout: 10_000 });
}

/**
 * Wait until `data-<name>` of element `#id` is above (`>`) or equal to (`===`) `value`. A function, not
 * a source string: the dashboard's CSP rightly forbids evaluating strings in the page.
 */
async function waitForData(
  page: Page,
  id: string,
  name: string,
  op: '>' | '===',
  value: number | string,
  timeout = 10_000,
): Promise<void> {
  await page.waitForFunction(
    ([id, name, op, value]) => {
      const v = document.getElementById(id)?.dataset[name];
      return op === '>' ? Number(v) > Number(value) : v === String(value);
    },
    [id, name, op, value] as const,
    { timeout },
  );
}

/** The cache's entries as the API lists them (`host path`). */
async function listed(admin: string): Promise<string[]> {
  const list = (await (await fetch(`${admin}api/cache/entries?limit=1000`)).json()) as {
    entries: Array<{ host: string; path: string }>;
  };
  return list.entries.map((e) => `${e.host} ${e.path}`);
}

/** Fail on console errors, page errors and refused calls (the console names no URL: these do). */
function watch(page: Page, problems: string[], allowStatus: (status: number) => boolean = () => false) {
  page.on('console', (message) => {
    // Refused connections while the admin restarts are the network, not the page.
    if (message.type() === 'error' && !message.text().includes('ERR_CONNECTION_REFUSED')) {
      problems.push(`console: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('response', (response) => {
    if (response.status() >= 400 && !allowStatus(response.status())) {
      problems.push(`${response.request().method()} ${response.url()} → ${response.status()}`);
    }
  });
}

describe('dashboard in Chromium', {
  timeout: 90_000,
  skip: found === null ? 'no Chromium found' : false,
}, () => {
  let server: RunningServer;
  let restarted: AdminService | undefined;
  let context: BrowserContext;
  let profile: string;
  let sites: string;
  const problems: string[] = [];

  before(async () => {
    const { executablePath, env } = found!;
    setLogSink(() => {});
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-chromium-'));
    // Two virtual hosts with the same paths: their entries must show (and purge) apart.
    sites = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-dashboard-hosts-'));
    for (const name of ['a.test', 'b.test']) {
      fs.mkdirSync(path.join(sites, name));
      fs.writeFileSync(path.join(sites, name, 'index.html'), `<p>${name}</p>\n`);
      for (let n = 0; n < HOST_FILES; n++) {
        fs.writeFileSync(path.join(sites, name, `page-${n}.html`), `<p>${name} page ${n}</p>\n`);
      }
    }
    // The server's threads and the browser start side by side: both take a few seconds on a busy machine.
    [server, context] = await Promise.all([
      startServer({
        config: {
          plugins: ['cache', 'static'],
          server: { port: 0, workers: 2 },
          static: {
            root: FIXTURES,
            hosts: { 'a.test': path.join(sites, 'a.test'), 'b.test': path.join(sites, 'b.test') },
          },
          admin: { port: 0 },
        },
      }),
      chromium.launchPersistentContext(profile, {
        executablePath,
        env,
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
          '--disable-quic',
        ],
        viewport: { width: 1280, height: 1000 },
        // The npm-shipped build takes its locale from LANG and reports "en-US@posix" under LANG=C.UTF-8,
        // which Intl (uPlot formats numbers with navigator.language) rejects: a real browser never does.
        locale: 'en-US',
        colorScheme: 'light',
      }),
    ]);
    fs.mkdirSync(OUTPUT, { recursive: true });
  });

  after(async () => {
    await context?.close();
    await restarted?.close();
    await server?.close();
    setLogSink(null);
    if (profile !== undefined) fs.rmSync(profile, { recursive: true, force: true });
    if (sites !== undefined) fs.rmSync(sites, { recursive: true, force: true });
  });

  it('shows live figures and charts, dims them while reconnecting, follows dark mode and a phone', async () => {
    const page = context.pages()[0] ?? (await context.newPage());
    watch(page, problems);
    await page.goto(server.admin!.url);
    await waitForState(page, 'live');
    assert.equal(await page.locator('#conn-text').textContent(), 'Live');

    // Traffic spread over two seconds, so that at least one whole second carries it.
    await traffic(server.port, 4);
    await hostTraffic(server.port, 1);
    await page.waitForTimeout(1100);
    await traffic(server.port, 4);
    await hostTraffic(server.port, 1);
    await waitForData(page, 'chart-requests', 'points', '>', 0);
    await waitForData(page, 'chart-status', 'points', '>', 0);
    await waitForData(page, 'chart-latency', 'points', '>', 0);
    await waitForData(page, 'k-ratio', 'value', '>', 0);
    assert.ok((await dataNumber(page, '#chart-requests', 'max')) > 0, 'the requests chart has a peak');
    assert.ok((await dataNumber(page, '#chart-occupancy', 'points')) > 0, 'the occupancy chart has points');
    assert.equal(await page.locator('#chart-requests canvas').count(), 1, 'uPlot drew a canvas');
    // The top row: a 4xx rate from the 404s, latency quantiles, and a sparkline under the busy tiles.
    assert.ok((await dataNumber(page, '#k-errors', 'value4xx')) > 0, 'the 404s show as a 4xx rate');
    assert.equal(await dataNumber(page, '#k-errors', 'value'), 0, 'no 5xx');
    assert.match((await page.locator('#k-latency .value').textContent()) ?? '', /(µs|ms|s) \/ .*(µs|ms|s)/);
    await page.locator('#k-rps .spark polyline').waitFor({ timeout: 10_000 });
    // The adaptive policy (the default) of the shared store: the candidate it runs and its timeline (the
    // store publishes no estimates: the section leaves them out).
    assert.ok(await page.locator('#policy-now').getAttribute('data-running'), 'the running candidate');
    assert.ok(await page.locator('#policy-estimates').isHidden());
    // No [tls] table, no proxy: no TLS section, no bans (they are over proxied responses).
    assert.ok(await page.locator('#tls-card').isHidden(), 'TLS is off: no TLS section');
    assert.ok(await page.locator('#bans-card').isHidden(), 'no proxy: no bans section');
    await waitForData(page, 'policy-timeline', 'segments', '>', 0);
    // Plugin panels (the admin contract's): the cache's figures, fetched when opened.
    await page.locator('#panels-details summary').click();
    const cachePanel = page.locator('#panels section[data-plugin="cache"]');
    await cachePanel.waitFor({ timeout: 10_000 });
    assert.match((await cachePanel.textContent()) ?? '', /Hit ratio.*%/s);
    // The configuration, read-only, with its load time.
    await page.locator('#config-details summary').click();
    assert.match((await page.locator('#config').textContent()) ?? '', /"plugins"/);
    assert.ok(await page.locator('#config-loaded').getAttribute('data-loaded-at'));
    await page.screenshot({ path: path.join(OUTPUT, 'dashboard.png'), fullPage: true });

    // The admin restarts (a new generated token): the figures fade with "reconnecting", then come back.
    const adminPort = server.admin!.port;
    await server.admin!.close();
    await waitForState(page, 'down');
    assert.match((await page.locator('#conn-text').textContent()) ?? '', /^Reconnecting/);
    assert.ok(await page.locator('#stale-banner').isVisible(), 'the banner says the figures are old');
    assert.match((await page.locator('#main').getAttribute('class')) ?? '', /\bstale\b/);
    await page.locator('header').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(OUTPUT, 'dashboard-reconnecting.png') });
    restarted = await startAdmin({
      options: { ...(server.config.admin as AdminOptions), port: adminPort },
      config: server.config,
      workers: server.workers,
      control: server.control,
      contributions: adminContributions(server.definitions),
      logger: { info() {}, warn() {}, error() {} },
    });
    await waitForState(page, 'live');
    assert.ok(await page.locator('#stale-banner').isHidden());
    assert.doesNotMatch((await page.locator('#main').getAttribute('class')) ?? '', /\bstale\b/);

    // Dark mode follows the system's setting, charts included.
    await page.emulateMedia({ colorScheme: 'dark' });
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = (background.match(/\d+/g) ?? []).map(Number);
    assert.ok(r! + g! + b! < 150, `a dark background (${background})`);
    await page.locator('html[data-scheme="dark"]').waitFor(); // the charts are redrawn in dark colours
    await page.screenshot({ path: path.join(OUTPUT, 'dashboard-dark.png'), fullPage: true });

    // A narrow window (a phone): the same page, one column, nothing wider than the screen.
    await page.setViewportSize({ width: 380, height: 900 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling in a narrow window (overflow ${overflow}px)`);
    await page.screenshot({ path: path.join(OUTPUT, 'dashboard-narrow-dark.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
    await page.locator('html[data-scheme="light"]').waitFor();
    await page.screenshot({ path: path.join(OUTPUT, 'dashboard-narrow.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 1000 });
    assert.deepEqual(problems, []);
  });

  it('lists entries per host, searches and pages them, purges one host, and clears only when typed', async () => {
    const page = context.pages()[0] ?? (await context.newPage());
    const admin = restarted?.url ?? server.admin!.url;
    await hostTraffic(server.port, 2);
    // "/" of each host is the most asked of the hosts' entries: the first two rows by hits.
    for (let i = 0; i < 3; i++)
      await Promise.all([get(server.port, '/', 'a.test'), get(server.port, '/', 'b.test')]);
    await page.goto(admin);
    await waitForState(page, 'live');

    // Virtual hosts: "/" of each host is its own row, named by its host.
    await page.fill('#entries-search', '.test/');
    await page.locator('#page-info', { hasText: /^1–15 of 26$/ }).waitFor();
    const top = await page.locator('#entries tr').evaluateAll((rows) =>
      rows.slice(0, 2).map((row) => {
        const { host, path } = (row as unknown as { dataset: Record<string, string> }).dataset;
        return `${host} ${path}`;
      }),
    );
    assert.deepEqual(top.sort(), ['a.test /', 'b.test /']);
    assert.equal(await page.locator('#entries tr[data-source="file"]').count(), 15, 'files, not proxied');

    // Search narrows to one host; the entries fill more than one page of the table.
    await page.fill('#entries-search', 'a.test/page');
    await waitForData(page, 'entries', 'count', '===', HOST_FILES);
    await page.fill('#entries-search', '');
    await page.locator('#page-info', { hasText: /^1–15 of \d\d$/ }).waitFor();
    assert.ok(await page.locator('#page-next').isEnabled(), 'more than one page');
    await page.click('#page-next');
    await page.locator('#page-info', { hasText: /^16–/ }).waitFor();
    await page.click('#page-prev');
    await page.locator('#page-info', { hasText: /^1–15 of/ }).waitFor();

    // A row's Purge removes that host's entry only.
    await page.locator('#entries tr[data-host="a.test"][data-path="/"] button', { hasText: 'Purge' }).click();
    await page.locator('#action-status', { hasText: /^Purged a\.test\/: 1 entries/ }).waitFor();
    const after = await listed(admin);
    assert.ok(!after.includes('a.test /'), 'a.test / is purged');
    assert.ok(after.includes('b.test /'), 'b.test / is kept');

    // Purge by prefix on one host, from the form.
    await page.fill('#entries-search', '');
    await page.selectOption('#purge-kind', 'prefix');
    await page.fill('#purge-value', '/page-1');
    await page.fill('#purge-host', 'b.test');
    await page.click('#purge-form button[type="submit"]');
    await page.locator('#action-status', { hasText: /^Purged b\.test\/page-1\*: 3 entries/ }).waitFor();
    const pages = await listed(admin);
    assert.ok(!pages.includes('b.test /page-10.html') && pages.includes('a.test /page-10.html'));
    // By tag (a tag names proxied responses; this server caches files only: nothing to remove).
    await page.selectOption('#purge-kind', 'tag');
    assert.ok(await page.locator('#purge-host').isHidden(), 'no host for a tag');
    await page.fill('#purge-value', 'product-42');
    await page.click('#purge-form button[type="submit"]');
    await page.locator('#action-status', { hasText: /^Purged tag product-42: 0 entries/ }).waitFor();

    // Clear cache, from the keyboard: Enter on the button opens the dialog, Enter in it does not clear.
    const before = (await listed(admin)).length;
    assert.ok(before > 0);
    await page.focus('#clear');
    await page.keyboard.press('Enter');
    assert.ok(await page.locator('#confirm').isVisible(), 'a confirmation dialog opens');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'confirm-input');
    await page.keyboard.press('Enter');
    assert.ok(await page.locator('#confirm').isVisible(), 'Enter alone does not confirm');
    assert.match((await page.locator('#confirm-hint').textContent()) ?? '', /Type “clear” first/);
    await page.screenshot({ path: path.join(OUTPUT, 'dashboard-confirm.png') });
    await page.keyboard.type('clea');
    assert.ok(await page.locator('#confirm-ok').isDisabled());
    await page.keyboard.press('Escape');
    assert.ok(!(await page.locator('#confirm').isVisible()), 'Escape cancels');
    assert.equal((await listed(admin)).length, before, 'cancel keeps the cache');

    await page.click('#clear');
    assert.equal(await page.locator('#confirm-input').inputValue(), '', 'the word is typed afresh each time');
    await page.keyboard.type('clear');
    await page.keyboard.press('Enter');
    await waitForData(page, 'entries', 'count', '===', 0);
    assert.match((await page.locator('#action-status').textContent()) ?? '', /^Cache cleared: \d+ entries/);
    assert.deepEqual(await listed(admin), []);
    await page.screenshot({ path: path.join(OUTPUT, 'dashboard-entries.png'), fullPage: true });
    assert.deepEqual(problems, []);
  });

  it('asks for the token when the admin requires one, then goes live with it', async () => {
    const locked = await startAdmin({
      options: { ...(server.config.admin as AdminOptions), port: 0, token: 'browser-test-token-0123' },
      config: server.config,
      workers: server.workers,
      control: server.control,
      contributions: adminContributions(server.definitions),
      logger: { info() {}, warn() {}, error() {} },
    });
    const page = await context.newPage();
    try {
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      await page.goto(locked.url);
      await page.locator('#login').waitFor();
      assert.equal(await page.locator('#conn').getAttribute('data-state'), 'down');
      await page.fill('#token-input', 'browser-test-token-0123');
      await page.click('#login-form button[type="submit"]');
      await waitForState(page, 'live');
      assert.ok(await page.locator('#login').isHidden());
      await page.locator('#meta', { hasText: '2 workers' }).waitFor();
    } finally {
      await page.close();
      await locked.close();
    }
    assert.deepEqual(problems, []);
  });

  it('shows each proxy backend with its state, rates and chart, and drains and enables one', async () => {
    const backend = http.createServer((_req, res) => res.end('from the backend'));
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const backendUrl = `http://127.0.0.1:${(backend.address() as { port: number }).port}`;
    // A port with nothing listening: connections are refused, so the backend is marked down.
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const proxied = await startServer({
      config: {
        plugins: ['proxy'],
        server: { port: 0, workers: 1 },
        admin: { port: 0 },
        proxy: {
          routes: [
            { match: '^/live/', backends: [backendUrl] },
            { match: '^/dead/', backends: [deadUrl], max_fails: 1 },
          ],
        },
      },
    });
    const page = await context.newPage();
    const seen: string[] = [];
    try {
      watch(page, seen);
      for (let i = 0; i < 3; i++) assert.equal(await get(proxied.port, `/live/${i}`), 200);
      assert.equal(await get(proxied.port, '/dead/x'), 502);
      await page.goto(proxied.admin!.url);
      await waitForState(page, 'live');
      assert.ok(await page.locator('#backends-card').isVisible(), 'the backends table is shown');
      assert.ok(await page.locator('#entries-card').isHidden(), 'no cache, no entries table');
      const live = page.locator(`#backends tr[data-url="${backendUrl}"]`);
      await live.waitFor({ timeout: 10_000 });
      assert.equal(await live.getAttribute('data-state'), 'up');
      assert.equal(await live.getAttribute('data-requests'), '3');
      assert.match((await live.textContent()) ?? '', /live/, 'the row names its route');
      const dead = page.locator(`#backends tr[data-url="${deadUrl}"]`);
      assert.notEqual(await dead.getAttribute('data-state'), 'up');
      assert.match((await dead.textContent()) ?? '', /ECONNREFUSED|refused/i);

      // Traffic while the page watches: the per-backend chart draws the busy backend.
      for (let i = 0; i < 5; i++) await get(proxied.port, `/live/again-${i}`);
      await waitForData(page, 'chart-backends', 'points', '>', 0);
      assert.ok((await dataNumber(page, '#chart-backends', 'series')) >= 1);
      await page.locator('#panels-details summary').click();
      const routes = page.locator('#panels section[data-plugin="proxy"] tbody tr');
      await routes.first().waitFor({ timeout: 10_000 });
      assert.match((await routes.first().textContent()) ?? '', /\^\/live\//, 'a row per route');
      await page.locator('[data-metric="l"]').click();
      assert.equal(await page.locator('[data-metric="l"]').getAttribute('aria-pressed'), 'true');

      // Drain, then enable again, from the row's buttons.
      await live.locator('button', { hasText: 'Drain' }).click();
      await page.locator(`#backends tr[data-url="${backendUrl}"][data-admin="draining"]`).waitFor();
      assert.match((await page.locator('#backend-status').textContent()) ?? '', /enabled → draining/);
      assert.equal(await get(proxied.port, '/live/drained'), 502, 'a drained route has no backend');
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard-backends.png'), fullPage: true });
      await live.locator('button', { hasText: 'Enable' }).click();
      await page.locator(`#backends tr[data-url="${backendUrl}"][data-admin="enabled"]`).waitFor();
      assert.equal(await get(proxied.port, '/live/back'), 200);
    } finally {
      await page.close();
      await proxied.close();
      await new Promise((resolve) => backend.close(resolve));
    }
    assert.deepEqual(seen, []);
  });
  it('shows the policy, TLS certificates and protocols, and adds bans and purges by tag', async () => {
    const backend = http.createServer((req, res) => {
      res.setHeader('cache-control', 'max-age=600');
      res.setHeader('cache-tag', req.url?.startsWith('/cached/tagged') ? 'product-42' : 'other');
      res.end(`cached ${req.url}`);
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const backendUrl = `http://127.0.0.1:${(backend.address() as { port: number }).port}`;
    const ca = createTestCa();
    // Valid two days: the dashboard flags it (under 14 days left).
    const cert = ca.issue('dash', ['localhost']);
    const secured = await startServer({
      config: {
        plugins: ['cache', 'proxy'],
        // W-TinyLFU reports its window (the first test's server runs the adaptive policy).
        cache: { policy: 'w-tinylfu' },
        server: { workers: 1, listen: [{ port: 0, tls: true }, { port: 0 }] },
        tls: { cert: cert.cert, key: cert.key },
        admin: { port: 0 },
        proxy: { routes: [{ match: '^/cached/', backends: [backendUrl], cache: true }] },
      },
    });
    const tlsPort = Number(new URL(secured.urls[0]!).port);
    const plainPort = Number(new URL(secured.urls[1]!).port);
    const page = await context.newPage();
    const seen: string[] = [];
    try {
      // The refused ban is a 400 by design: its console line and response are expected.
      watch(page, seen, (status) => status === 400);
      // HTTP/1.1 over TLS, HTTP/2 over TLS, and plain HTTP/1.1.
      const viaTls = (target: string) =>
        new Promise<number>((resolve, reject) => {
          https
            .get(
              {
                port: tlsPort,
                host: '127.0.0.1',
                servername: 'localhost',
                path: target,
                ca: ca.caPem,
                agent: false,
              },
              (res) => {
                res.resume();
                res.on('end', () => resolve(res.statusCode ?? 0));
              },
            )
            .on('error', reject);
        });
      for (let i = 0; i < 3; i++) assert.equal(await viaTls(`/cached/tls-${i}`), 200);
      const session = http2.connect(`https://localhost:${tlsPort}`, {
        ca: ca.caPem,
        host: '127.0.0.1',
      } as http2.SecureClientSessionOptions);
      for (let i = 0; i < 2; i++) {
        await new Promise<void>((resolve, reject) => {
          const stream = session.request({ ':path': `/cached/h2-${i}` });
          stream.on('error', reject);
          stream.resume();
          stream.on('end', resolve);
        });
      }
      session.close();
      for (const target of ['/cached/tagged', '/cached/banned-1', '/cached/banned-2', '/cached/kept']) {
        assert.equal(await get(plainPort, target), 200);
        assert.equal(await get(plainPort, target), 200);
      }
      await page.goto(secured.admin!.url);
      await waitForState(page, 'live');

      // The eviction policy: what runs now, a timeline of what ran, and W-TinyLFU's window over time.
      await page.locator('#policy-card').waitFor({ state: 'visible', timeout: 10_000 });
      assert.equal(await page.locator('#policy-now').getAttribute('data-running'), 'w-tinylfu');
      await waitForData(page, 'policy-timeline', 'segments', '>', 0);
      // The window share is charted when the store reports it (a store per worker does; the shared store
      // publishes its running candidate only), and left out otherwise.
      const stats = (await (await fetch(`${secured.admin!.url}api/stats`)).json()) as {
        cache: { policyState: { window?: number } | null };
      };
      if (stats.cache.policyState?.window !== undefined) {
        assert.ok(await page.locator('#policy-window').isVisible(), 'the window share is charted');
        await page.locator('#chart-window canvas').waitFor();
        assert.match((await page.locator('#policy-now').textContent()) ?? '', /Window\s*[\d.]+ %/);
      } else assert.ok(await page.locator('#policy-window').isHidden(), 'no window reported, none charted');
      await page.locator('#policy-card').screenshot({ path: path.join(OUTPUT, 'dashboard-policy.png') });

      // TLS: the certificate with its names and days left, flagged; the protocols of the traffic above.
      assert.ok(await page.locator('#tls-card').isVisible(), 'TLS is on: the card shows');
      const row = page.locator('#certificates tr[data-names="localhost"]');
      await row.waitFor({ timeout: 10_000 });
      assert.ok(Number(await row.getAttribute('data-days-left')) < 14);
      assert.match((await row.getAttribute('class')) ?? '', /\bexpiring\b/);
      assert.equal(await row.getAttribute('data-source'), 'file');
      assert.match((await row.textContent()) ?? '', /Tamarin Test CA/, 'the issuer');
      assert.ok(await page.locator('#tls-expiring').isVisible(), 'the expiry warning shows');
      // 3 HTTPS connections, 1 HTTP/2 and 8 plain: the stream brings the counters once a tick saw them.
      await waitForData(page, 'protocols', 'connections', '>', 11);
      const value = async (key: string) => dataNumber(page, `#protocols [data-key="${key}"]`, 'value');
      assert.ok((await value('conn-h2')) >= 1, 'the HTTP/2 connection');
      assert.ok((await value('conn-h1')) >= 4, 'HTTP/1.1 over TLS and plain');
      assert.ok((await value('req-h2')) >= 2, 'the HTTP/2 requests');
      assert.ok((await value('tls-TLSv1.3')) + (await value('tls-TLSv1.2')) >= 4, 'TLS connections');
      assert.ok((await value('plain')) >= 1, 'plain connections');
      await page.locator('#tls-card').screenshot({ path: path.join(OUTPUT, 'dashboard-tls.png') });

      // Bans: an invalid expression is refused with the API's reason; a valid one is listed.
      await page.fill('#ban-url', '^/cached/(banned');
      await page.click('#ban-form button[type="submit"]');
      await page
        .locator('#ban-status.error', { hasText: /^Ban refused: url: invalid regular expression/ })
        .waitFor();
      await page.fill('#ban-url', '^/cached/banned-');
      await page.click('#ban-form button[type="submit"]');
      await page.locator('#ban-status', { hasText: /^Ban added: req\.url ~ \^\/cached\/banned-/ }).waitFor();
      assert.doesNotMatch((await page.locator('#ban-status').getAttribute('class')) ?? '', /\berror\b/);
      await page
        .locator('#bans tr[data-expression="req.url ~ ^/cached/banned-"]')
        .waitFor({ timeout: 10_000 });
      await page.locator('#bans-card').screenshot({ path: path.join(OUTPUT, 'dashboard-bans.png') });
      const admin = secured.admin!.url;
      // Banned entries go (on lookup or by the sweep); the others stay.
      await get(plainPort, '/cached/banned-1');
      const left = await listed(admin);
      assert.ok(
        left.some((e) => e.endsWith(' /cached/kept')),
        'an entry the ban does not match stays',
      );

      // Purge by tag from the entries form: the tagged response goes, the others stay.
      assert.ok((await listed(admin)).some((e) => e.endsWith(' /cached/tagged')));
      await page.selectOption('#purge-kind', 'tag');
      await page.fill('#purge-value', 'product-42');
      await page.click('#purge-form button[type="submit"]');
      await page.locator('#action-status', { hasText: /^Purged tag product-42: 1 entries/ }).waitFor();
      const tagged = await listed(admin);
      assert.ok(!tagged.some((e) => e.endsWith(' /cached/tagged')), 'the tagged entry is purged');
      assert.ok(
        tagged.some((e) => e.endsWith(' /cached/kept')),
        'an untagged one stays',
      );

      // Dark and narrow, for people to look at.
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.locator('html[data-scheme="dark"]').waitFor();
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard-extras-dark.png'), fullPage: true });
      await page.setViewportSize({ width: 380, height: 900 });
      await page.waitForTimeout(300);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `no horizontal scrolling in a narrow window (overflow ${overflow}px)`);
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard-extras-narrow-dark.png'), fullPage: true });
      await page.emulateMedia({ colorScheme: 'light' });
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard-extras-narrow.png'), fullPage: true });
      for (const card of ['policy', 'tls', 'bans']) {
        await page
          .locator(`#${card}-card`)
          .screenshot({ path: path.join(OUTPUT, `dashboard-${card}-narrow.png`) });
      }
    } finally {
      await page.close();
      await secured.close();
      await new Promise((resolve) => backend.close(resolve));
      fs.rmSync(ca.dir, { recursive: true, force: true });
    }
    assert.deepEqual(
      seen.filter((s) => !/status of 400/.test(s)),
      [],
    );
  });
});
