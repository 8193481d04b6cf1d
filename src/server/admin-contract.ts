/**
 * What a plugin adds to the admin, which runs in the primary thread and knows plugins only by this: its
 * per-worker stats and how they merge, its admin API endpoints, its Prometheus metrics and its dashboard
 * panel. The plugin's instances live in the workers; the admin reaches them through `control` calls, so
 * everything here works on the plain data those calls return.
 */

/** One worker's answer to a control call. */
export interface WorkerResult<T = unknown> {
  readonly worker: number;
  readonly result: T;
}

/**
 * Call `command` on this plugin's instance in every worker. Resolves with every worker's result (in
 * worker order); rejects when a worker failed (the admin answers 502, or 404 when the plugin is not
 * running).
 */
export type WorkerCall = <T = unknown>(command: string, args?: unknown) => Promise<Array<WorkerResult<T>>>;

/** A request to a contributed endpoint, reduced to what an endpoint needs. */
export interface AdminEndpointRequest {
  readonly method: string;
  /** The query string without `?` (parse it with {@link queryParams}). */
  readonly query: string;
}

/** A contributed endpoint: `method path`, answered with JSON (status 200 unless `status` says). */
export interface AdminEndpoint {
  /** `GET` (HEAD is answered too), `POST`, `DELETE`, ... Anything but GET changes state. */
  readonly method: string;
  /** Under `/api/`, e.g. `/api/cache/entries`; one path may have several methods. */
  readonly path: string;
  handle(request: AdminEndpointRequest, workers: WorkerCall): Promise<AdminAnswer> | AdminAnswer;
}

/** What an endpoint answers: a JSON body, 200 unless `status` is given. */
export interface AdminAnswer {
  readonly status?: number;
  readonly body: unknown;
}

/** A client mistake in a call to an endpoint: answered with `status` and `{ error: code, message }`. */
export class AdminRequestError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'AdminRequestError';
    this.status = status;
    this.code = code;
  }
}

/** Query parameters as a map; unknown or repeated names are 400s naming what is allowed. */
export function queryParams(query: string, allowed: readonly string[]): Map<string, string> {
  const params = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(query)) {
    if (!allowed.includes(name)) {
      const expected = allowed.length === 0 ? 'none' : allowed.join(', ');
      throw new AdminRequestError(
        400,
        'bad_parameter',
        `unknown parameter "${name}" (expected: ${expected})`,
      );
    }
    if (params.has(name))
      throw new AdminRequestError(400, 'bad_parameter', `parameter "${name}" given twice`);
    params.set(name, value);
  }
  return params;
}

/** An integer parameter within `min..max`, `fallback` when absent; a 400 naming the range otherwise. */
export function intParam(
  params: Map<string, string>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const text = params.get(name);
  if (text === undefined) return fallback;
  const n = /^\d{1,9}$/.test(text) ? Number(text) : Number.NaN;
  if (!(n >= min && n <= max)) {
    throw new AdminRequestError(
      400,
      'bad_parameter',
      `${name} must be an integer from ${min} to ${max}, got "${text}"`,
    );
  }
  return n;
}

/** One sample of a metric family; `suffix` names a histogram's `_bucket`, `_sum` or `_count` line. */
export interface MetricSample {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly suffix?: '_bucket' | '_sum' | '_count';
}

/**
 * A Prometheus metric family. Names start with `tamarin_`; counters end in `_total`. Labels must be
 * bounded by the configuration (worker, route index, backend URL, reason): never a request's path or host.
 */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly samples: readonly MetricSample[];
}

/** An empty family to fill with samples. */
export function metricFamily(
  name: string,
  type: MetricFamily['type'],
  help: string,
): MetricFamily & { samples: MetricSample[] } {
  return { name, help, type, samples: [] };
}

/** A plugin's metrics: built at each scrape from every worker's answer to `command`. */
export interface MetricsContribution {
  /** The control command whose per-worker results `collect` gets. @default "stats" */
  readonly command?: string;
  /**
   * Every family the plugin exports, with or without samples (the admin declares them all at start-up
   * from `collect([])`, so a scrape always lists the same families).
   */
  collect(perWorker: ReadonlyArray<WorkerResult>): MetricFamily[];
}

/**
 * What the dashboard shows for the plugin: a titled panel of figures taken from its part of `/api/stats`
 * (`stats.<plugin name>`). `GET /api/panels` lists the panels of the running plugins.
 */
export interface DashboardPanel {
  readonly title: string;
  /** The figures, in order: a label and the dotted path of the value in the plugin's stats. */
  readonly fields: ReadonlyArray<{
    readonly label: string;
    readonly path: string;
    /** How to show it. @default "number" */
    readonly format?: 'number' | 'ratio' | 'bytes' | 'seconds';
  }>;
}

/**
 * What a plugin adds to the admin, which runs in the primary thread and knows plugins only by this (it
 * reaches their instances in the workers through `control`).
 */
export interface AdminContribution {
  /**
   * Merge the per-worker results of this plugin's `stats` control command (in worker order) into the
   * server's total, which `/api/stats`, the live feed and the dashboard show.
   */
  mergeStats?(perWorker: readonly unknown[]): unknown;
  /** Admin API endpoints (each reaches the plugin's workers through the `WorkerCall` it is given). */
  readonly endpoints?: readonly AdminEndpoint[];
  /** Prometheus metrics for `/metrics`. */
  readonly metrics?: MetricsContribution;
  /** The dashboard's panel for this plugin (listed by `/api/session`). */
  readonly panel?: DashboardPanel;
}
