/**
 * Sends the alerts that are due, oldest first, one sender at a time (a lease in the database)
 * and never faster than one message per second. The first answer that is not a delivery ends
 * the run: the alert is rescheduled (Retry-After, backoff) and the next run tries again.
 * Delivery is at least once: a crash after Slack took a message but before it was recorded
 * sends that message again (Slack webhooks take no idempotency key).
 */
import type { PostToSlack } from "./slack.ts";
import type { MonitorStore } from "./store.ts";

/**
 * How long a run holds the right to send: under pg_cron's one-minute schedule, so that the next
 * run can take over from a run that crashed holding it.
 */
export const DELIVERY_LEASE_SECONDS = 50;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface DeliveryDeps {
  store: MonitorStore;
  post: PostToSlack;
  /** Alerts sent per run at most. */
  maxAlerts: number;
  /**
   * How long a run may hold the right to send; a crashed run's lease lapses after it.
   * Default: DELIVERY_LEASE_SECONDS.
   */
  leaseSeconds?: number;
  /** The longest one post may take (the webhook's timeout). */
  postTimeoutMs: number;
  now(): number;
  /** Default: sleep(), in real time. */
  sleep?(ms: number): Promise<void>;
  log(line: string): void;
}

export interface DeliveryResult {
  delivered: number;
  /** Set when the run stopped early: another sender, or Slack's answer. */
  stoppedBy?: string;
}

export const MIN_INTERVAL_MS = 1_000;

export async function deliverAlerts(deps: DeliveryDeps): Promise<DeliveryResult> {
  const leaseSeconds = deps.leaseSeconds ?? DELIVERY_LEASE_SECONDS;
  const pause = deps.sleep ?? sleep;
  const started = deps.now();
  const claim = await deps.store.claimDelivery(leaseSeconds);
  if (!claim) return { delivered: 0, stoppedBy: "another run is delivering" };
  const leaseEnds = started + leaseSeconds * 1000;
  let delivered = 0;
  let notBefore = claim.notBefore;
  try {
    for (const alert of await deps.store.dueAlerts(deps.maxAlerts)) {
      const wait = Math.max(0, notBefore - deps.now());
      if (deps.now() + wait + deps.postTimeoutMs >= leaseEnds) {
        return { delivered, stoppedBy: "time" };
      }
      if (wait > 0) await pause(wait);
      const result = await deps.post(alert.message);
      await deps.store.settle(alert.id, result);
      if (result.outcome !== "delivered") {
        deps.log(`dlq-monitor: alert ${alert.id} (${alert.kind}) not delivered: ${result.detail}`);
        return { delivered, stoppedBy: result.outcome };
      }
      delivered++;
      notBefore = deps.now() + MIN_INTERVAL_MS;
    }
    return { delivered };
  } finally {
    await deps.store.releaseDelivery();
  }
}
