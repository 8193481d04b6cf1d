/**
 * Active health checks: every `interval`, one GET of the health path per backend (on its own short-lived
 * connection, so a check never queues behind traffic or poisons the pool). `fall` consecutive failures
 * take a backend down, `rise` consecutive successes bring it back. 2xx and 3xx count as healthy.
 */
import { request } from 'node:http';
import type { Backend } from './backend.ts';
import type { HealthOptions } from './options.ts';

/** Runs the checks of one route until stopped. */
export class HealthChecker {
  private readonly backends: readonly Backend[];
  private readonly options: HealthOptions;
  private readonly via: string;
  private readonly successes: number[];
  private readonly failures: number[];
  private timer: NodeJS.Timeout | null = null;
  private running = new Set<ReturnType<typeof request>>();

  constructor(backends: readonly Backend[], options: HealthOptions, via: string) {
    this.backends = backends;
    this.options = options;
    this.via = via;
    this.successes = backends.map(() => 0);
    this.failures = backends.map(() => 0);
  }

  start(): void {
    this.timer = setInterval(() => this.checkAll(), this.options.interval);
    this.timer.unref();
    this.checkAll();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const req of this.running) req.destroy();
    this.running.clear();
  }

  /** Check every backend once (exposed for tests). */
  checkAll(): void {
    for (const backend of this.backends) this.check(backend);
  }

  private check(backend: Backend): void {
    let settled = false;
    const settle = (ok: boolean, reason: string) => {
      if (settled) return;
      settled = true;
      this.running.delete(req);
      this.record(backend, ok, reason);
    };
    const req = request({
      host: backend.host,
      port: backend.port,
      path: this.options.path,
      method: 'GET',
      agent: false,
      timeout: this.options.timeout,
      headers: { Host: backend.url.slice(7), 'User-Agent': 'tamarin-health', Via: `1.1 ${this.via}` },
    });
    this.running.add(req);
    req.on('response', (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      settle(status >= 200 && status < 400, `health check ${this.options.path} answered ${status}`);
    });
    req.on('timeout', () => {
      settle(false, `health check ${this.options.path} timed out`);
      req.destroy();
    });
    req.on('error', (error: NodeJS.ErrnoException) =>
      settle(false, `health check ${this.options.path} failed: ${error.code ?? error.message}`),
    );
    req.end();
  }

  private record(backend: Backend, ok: boolean, reason: string): void {
    const i = backend.index;
    if (ok) {
      this.failures[i] = 0;
      this.successes[i]! += 1;
      if (this.successes[i]! >= this.options.rise) backend.setHealthy(true, reason);
    } else {
      this.successes[i] = 0;
      this.failures[i]! += 1;
      if (this.failures[i]! >= this.options.fall) backend.setHealthy(false, reason);
    }
  }
}
