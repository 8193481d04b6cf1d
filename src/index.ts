/**
 * Tamarin's public API: what a third-party plugin or an embedding program imports (`from 'tamarin-server'`,
 * the npm package's name; its command is `tamarin`).
 *
 * A plugin module default-exports `definePlugin({ name, options, create })`; `options` is a zod schema of
 * its `[name]` table (use the `z` exported here so the schema and the server share one zod), and `create`
 * returns the hooks of one worker's instance. See examples/ for a complete plugin with its test.
 */
export { z } from 'zod';
export type {
  ConnectionInfo,
  FileSource,
  HeaderList,
  HeaderValue,
  Request,
  Response,
} from './http/types.ts';
export { type RunningServer, type StartOptions, startServer } from './main/compose.ts';
export {
  type AdminAnswer,
  type AdminEndpoint,
  type AdminEndpointRequest,
  AdminRequestError,
  type DashboardPanel,
  intParam,
  type MetricFamily,
  type MetricSample,
  type MetricsContribution,
  metricFamily,
  queryParams,
  type WorkerCall,
  type WorkerResult,
} from './server/admin-contract.ts';
export type { ServerConfig, TamarinConfig } from './server/config.ts';
export { ConfigError } from './server/config-errors.ts';
export {
  type AdminContribution,
  definePlugin,
  type Logger,
  type MaybePromise,
  type Plugin,
  type PluginContext,
  type PluginDefinition,
  type PrimaryShare,
  type ServiceKey,
  type ShareContext,
  serviceKey,
} from './server/plugin.ts';
export { ListenError } from './server/runtime.ts';
export { byteSize, duration, parseByteSize, parseDuration } from './server/units.ts';
export type { ControlResult } from './server/workers.ts';
