/**
 * A second functions gateway beside a running stack, for tests and benchmarks that need other
 * instance counts or settings than the stack's own: same functions, same database and queues,
 * the stack's env with `env` laid over it (an undefined value removes the variable), on a free
 * port of 127.0.0.1. Stop it with close().
 */
import { type Gateway, type GatewayConfig, serveGateway } from "./functions_server.ts";
import { gatewayFile } from "./stack.ts";

export interface ExtraGateway {
  /** http://127.0.0.1:<port>, to which /functions/v1/<slug> is appended. */
  url: string;
  gateway: Gateway;
  close(): Promise<void>;
}

export async function startExtraGateway(
  stateDir: string,
  options: {
    instances?: number;
    env?: Record<string, string | undefined>;
    prestart?: string[];
  } = {},
): Promise<ExtraGateway> {
  const stack = JSON.parse(await Deno.readTextFile(gatewayFile(stateDir))) as GatewayConfig;
  const config: GatewayConfig = {
    ...stack,
    port: 0,
    instances: options.instances ?? 1,
    env: Object.fromEntries(
      Object.entries({ ...stack.env, ...options.env }).filter(
        (entry): entry is [string, string] => entry[1] !== undefined,
      ),
    ),
  };
  const served = serveGateway(config, { logRequests: false });
  try {
    // Booted before use, so that a burst meets every instance ready.
    for (const slug of options.prestart ?? []) await served.gateway.prestart(slug);
  } catch (error) {
    await served.close();
    throw error;
  }
  return {
    url: `http://127.0.0.1:${served.server.addr.port}`,
    gateway: served.gateway,
    close: served.close,
  };
}
