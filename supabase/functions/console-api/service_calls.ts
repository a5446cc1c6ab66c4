/**
 * What console-api asks of the project's other functions, with the service role key: the health
 * answer (its checks and their reasons, as monitors see them) and the DLQ monitor's redrive (one
 * implementation of moving dead letters back, whoever asks).
 */
import type { RedriveRequest } from "./params.ts";
import type { Json } from "./store.ts";

export function serviceCalls(projectUrl: string, serviceKey: string): {
  health(): Promise<Json>;
  redrive(request: RedriveRequest): Promise<{ status: number; body: Json }>;
} {
  const headers = { authorization: `Bearer ${serviceKey}` };
  return {
    health: async () => {
      const res = await fetch(`${projectUrl}/functions/v1/health`, {
        headers: { ...headers, accept: "application/health+json" },
        signal: AbortSignal.timeout(3_000),
      });
      return await res.json();
    },
    redrive: async ({ limit, dryRun }) => {
      const res = await fetch(`${projectUrl}/functions/v1/dlq-monitor/redrive`, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ limit, dryRun }),
        // The redrive works within its own time budget; this only bounds a hung call.
        signal: AbortSignal.timeout(120_000),
      });
      return { status: res.status, body: await res.json() };
    },
  };
}
