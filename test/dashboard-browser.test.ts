/**
 * The dashboard in a real browser driven by playwright-core: the system's Chromium when there is one
 * (Debian's /usr/bin/chromium, or TAMARIN_TEST_CHROMIUM), else the headless Chromium that the npm
 * devDependency @sparticuz/chromium ships (unpacked to the temp directory on first use), so that `npm ci &&
 * npm test` needs nothing beyond Node and npm. Loads the page from the
 * admin of a 2-worker server, sends traffic to the main listener, and checks what an operator would see:
 * the live indicator (also across an admin restart), graph points, the hit counter rising, the top
 * entries table, and "Clear cache…" (with its confirmation) emptying the cache in the page and the API. Any console error (a CSP
 * violation, a script error) fails the test. Screenshots go to test-output/ for humans.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import type { AdminOptions } from '../src/admin/options.ts';
import { type AdminService, startAdmin } from '../src/admin/service.ts';
import { adminContributions, type RunningServer, startServer } from '../src/main/compose.ts';
import { setLogSink } from '../src/server/logger.ts';

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

/** Fetch every fixture `rounds` times from the main listener (hits after the first round). */
async function traffic(base: string, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await Promise.all(FILES.map(async (file) => (await fetch(base + file)).arrayBuffer()));
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
};
declare const window: { innerWidth: number };

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

describe('dashboard in Chromium', { timeout: 60_000 }, () => {
  let server: RunningServer;
  let restarted: AdminService | undefined;
  let context: BrowserContext;
  let profile: string;
  const problems: string[] = [];

  before(async () => {
    const { executablePath, env } = await browser();
    setLogSink(() => {});
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'tamarin-chromium-'));
    // The server's threads and the browser start side by side: both take a few seconds on a busy machine.
    [server, context] = await Promise.all([
      startServer({
        config: {
          plugins: ['cache', 'static'],
          server: { port: 0, workers: 2 },
          static: { root: FIXTURES },
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
  });

  it('shows live traffic, then clears the cache after confirmation', async () => {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      // Refused connections while the admin restarts are the network, not the page.
      if (message.type() === 'error' && !message.text().includes('ERR_CONNECTION_REFUSED')) {
        problems.push(`console: ${message.text()}`);
      }
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    // The console names no URL: refused calls are listed with theirs, so a failure says which call it was.
    page.on('response', (response) => {
      if (response.status() >= 400) {
        problems.push(`${response.request().method()} ${response.url()} → ${response.status()}`);
      }
    });
    await page.goto(server.admin!.url);
    await waitForState(page, 'live');
    assert.equal(await page.locator('#conn-text').textContent(), 'Live');

    // Traffic spread over two seconds, so that at least one whole second carries it.
    await traffic(server.url, 4);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await traffic(server.url, 4);
    await waitForData(page, 'chart-requests', 'points', '>', 0);
    await waitForData(page, 'c-hits', 'value', '>', 0);
    assert.ok((await dataNumber(page, '#chart-requests', 'max')) > 0, 'the requests graph has a peak');
    assert.ok((await dataNumber(page, '#chart-ratio', 'points')) > 0, 'the hit-ratio graph has points');
    assert.ok((await dataNumber(page, '#chart-occupancy', 'points')) > 0, 'the occupancy graph has points');
    assert.equal(await page.locator('#chart-requests canvas').count(), 1, 'uPlot drew a canvas');

    // More traffic: the hit counter rises on the next snapshot, without a reload.
    const hits = await dataNumber(page, '#c-hits', 'value');
    await traffic(server.url, 5);
    await waitForData(page, 'c-hits', 'value', '>', hits);
    assert.ok((await dataNumber(page, '#c-entries', 'value')) > 0);

    // The admin restarts (a new generated token): the indicator shows the drop, then the page reconnects.
    const adminPort = server.admin!.port;
    await server.admin!.close();
    await waitForState(page, 'down');
    assert.match((await page.locator('#conn-text').textContent()) ?? '', /^Reconnecting/);
    restarted = await startAdmin({
      options: { ...(server.config.admin as AdminOptions), port: adminPort },
      config: server.config,
      workers: server.workers,
      control: server.control,
      contributions: adminContributions(server.definitions),
      logger: { info() {}, warn() {}, error() {} },
    });
    await waitForState(page, 'live');

    // The top entries table lists the cached files.
    await page.click('#sort-size');
    await waitForData(page, 'entries', 'count', '>', 0);
    assert.match((await page.locator('#entries').textContent()) ?? '', /\/bytes\.bin/);
    await page.screenshot({ path: path.join(OUTPUT, 'dashboard.png'), fullPage: true });

    // Clear: a confirmation first; Cancel keeps everything.
    await page.click('#clear');
    assert.ok(await page.locator('#confirm').isVisible(), 'a confirmation dialog opens');
    await page.click('#confirm-cancel');
    assert.ok(!(await page.locator('#confirm').isVisible()));
    assert.ok((await dataNumber(page, '#c-entries', 'value')) > 0, 'cancel keeps the cache');

    await page.click('#clear');
    await page.click('#confirm-ok');
    await waitForData(page, 'entries', 'count', '===', 0);
    await waitForData(page, 'c-entries', 'value', '===', 0, 5000);
    assert.match((await page.locator('#action-status').textContent()) ?? '', /^Cache cleared: \d+ entries/);

    const stats = (await (await fetch(`${server.admin!.url}api/stats`)).json()) as {
      cache: { entries: number };
    };
    assert.equal(stats.cache.entries, 0);
    const list = (await (await fetch(`${server.admin!.url}api/cache/entries`)).json()) as {
      entries: unknown[];
    };
    assert.deepEqual(list.entries, []);

    // A narrow window (a phone): the same page, one column.
    await page.setViewportSize({ width: 380, height: 900 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `no horizontal scrolling in a narrow window (overflow ${overflow}px)`);
    await page.screenshot({ path: path.join(OUTPUT, 'dashboard-narrow.png'), fullPage: true });
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
      await waitForData(page, 'c-requests', 'value', '>', 0);
    } finally {
      await page.close();
      await locked.close();
    }
    assert.deepEqual(problems, []);
  });
  it('shows each proxy backend with its state and counters, and a dead one as down', async () => {
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
      page.on('console', (message) => {
        if (message.type() === 'error') seen.push(`console: ${message.text()}`);
      });
      page.on('pageerror', (error) => seen.push(`page error: ${error.message}`));
      for (let i = 0; i < 3; i++) assert.equal((await fetch(`${proxied.url}/live/${i}`)).status, 200);
      assert.equal((await fetch(`${proxied.url}/dead/x`)).status, 502);
      await page.goto(proxied.admin!.url);
      await waitForState(page, 'live');
      assert.ok(await page.locator('#backends-card').isVisible(), 'the backends table is shown');
      const live = page.locator(`#backends tr[data-url="${backendUrl}"]`);
      await live.waitFor({ timeout: 10_000 });
      assert.equal(await live.getAttribute('data-state'), 'up');
      assert.equal(await live.getAttribute('data-requests'), '3');
      assert.match((await live.textContent()) ?? '', /live/, 'the row names its route');
      const dead = page.locator(`#backends tr[data-url="${deadUrl}"]`);
      assert.notEqual(await dead.getAttribute('data-state'), 'up');
      assert.match((await dead.textContent()) ?? '', /ECONNREFUSED|refused/i);
      await page.screenshot({ path: path.join(OUTPUT, 'dashboard-backends.png'), fullPage: true });
    } finally {
      await page.close();
      await proxied.close();
      await new Promise((resolve) => backend.close(resolve));
    }
    assert.deepEqual(seen, []);
  });
});
