/**
 * A `PluginContext` for tests that create a plugin by hand (no host): services live in a plain map that
 * the test can fill (`services.set(key.name, value)`) or read what the plugin provided.
 */
import type { Logger, PluginContext, ServiceKey } from './plugin.ts';

const quiet: Logger = { info() {}, warn() {}, error() {} };

/** A context with the given fields (defaults: worker 0 of 1, empty config, a silent logger). */
export function testContext(
  fields: Partial<Pick<PluginContext, 'workerId' | 'workerCount' | 'config' | 'logger'>> = {},
  services: Map<string, unknown> = new Map(),
): PluginContext & { readonly services: Map<string, unknown> } {
  return {
    workerId: fields.workerId ?? 0,
    workerCount: fields.workerCount ?? 1,
    config: fields.config ?? {},
    logger: fields.logger ?? quiet,
    services,
    provide<T>(key: ServiceKey<T>, value: T): void {
      services.set(key.name, value);
    },
    service<T>(key: ServiceKey<T>): T {
      if (!services.has(key.name)) throw new Error(`no "${key.name}" service in this test context`);
      return services.get(key.name) as T;
    },
    find: <T>(key: ServiceKey<T>) => services.get(key.name) as T | undefined,
    // Nobody else runs: a test that needs a consumer sets one up with a host.
    wanted: () => false,
  };
}
