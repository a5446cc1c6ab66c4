/**
 * Decisions waiting in this instance go to the database together: at most `maxInFlight` SQL
 * calls at a time, each deciding everything that waited for it (up to `maxBatch`), so a burst of
 * 500 requests costs a handful of calls, not 500 waits for a pool connection. Like a group
 * commit, it adds no wait when the instance is idle: the first decision goes out at once.
 *
 * Every decision has a deadline. One still waiting here when it passes is shed (`Shed`): the
 * instance is overloaded, and a decision it could not even ask for must not be admitted. One sent
 * keeps waiting for its exact answer past the deadline (late is still right; the limiter's pool
 * gives up on a statement after a few seconds, see setup.ts). But a call sent at once from an
 * idle instance and unanswered at the deadline is the database's doing, not ours: it reports
 * "unanswered" to `onCall`, which the circuit breaker counts (see resilient.ts). Once the breaker
 * is open (`giveUp`), every decision still waiting, overdue or queued, is let go with
 * `Unanswered`, for the fallback to decide. The queue is bounded (`maxQueued`).
 */
import type {
  Ask,
  BatchDecider,
  CheckOptions,
  Decision,
  Limiter,
  LimitRequest,
} from "./limiter.ts";

/** Shed: queued in this instance past its deadline, or the queue was full. */
export class Shed extends Error {
  override name = "Shed";
}

/** Sent to the database, no answer by the deadline. */
export class Unanswered extends Error {
  override name = "Unanswered";
}

/** What one SQL call came to, for the circuit breaker. */
export type CallOutcome = "answered" | "failed" | "unanswered";

export interface BatchingOptions {
  maxInFlight: number;
  maxBatch: number;
  maxQueued: number;
  onCall?(outcome: CallOutcome, error?: unknown): void;
  /** True while decisions should not wait for the database (the circuit breaker is open). */
  giveUp?(): boolean;
  now?(): number;
}

interface Pending {
  ask: Ask;
  resolve(decisions: Decision[]): void;
  reject(error: Error): void;
  timer?: ReturnType<typeof setTimeout>;
  call?: Call;
  settled: boolean;
}

interface Call {
  /** Sent the moment its only decision arrived, nothing else waiting: the instance was idle. */
  idle: boolean;
  reportedUnanswered: boolean;
}

export function batchingLimiter(decider: BatchDecider, options: BatchingOptions): Limiter {
  const now = options.now ?? Date.now;
  const queue: Pending[] = [];
  /** Sent, past their deadline, still waiting for the answer. */
  const overdue = new Set<Pending>();
  let inFlight = 0;

  const settle = (p: Pending, outcome: { decisions: Decision[] } | { error: Error }) => {
    if (p.settled) return;
    p.settled = true;
    clearTimeout(p.timer);
    overdue.delete(p);
    if ("error" in outcome) p.reject(outcome.error);
    else p.resolve(outcome.decisions);
  };

  /** The breaker opened: nothing waits for the database any more. */
  const letGo = () => {
    const waiting = [...overdue, ...queue.splice(0)];
    for (const p of waiting) {
      settle(p, { error: new Unanswered("the database is unreachable (circuit open)") });
    }
  };

  const report = (outcome: CallOutcome, error?: unknown) => {
    options.onCall?.(outcome, error);
    if (options.giveUp?.()) letGo();
  };

  const onDeadline = (p: Pending) => {
    if (p.settled) return;
    if (!p.call) {
      queue.splice(queue.indexOf(p), 1);
      settle(p, { error: new Shed("waited in this instance past its deadline") });
      return;
    }
    overdue.add(p);
    if (p.call.idle && !p.call.reportedUnanswered) {
      p.call.reportedUnanswered = true;
      report("unanswered");
    } else if (options.giveUp?.()) {
      letGo();
    }
  };

  const pump = (idle: boolean) => {
    while (inFlight < options.maxInFlight && queue.length > 0) {
      const batch = queue.splice(0, options.maxBatch);
      const call: Call = { idle, reportedUnanswered: false };
      for (const p of batch) p.call = call;
      inFlight++;
      decider.decide(batch.map((p) => p.ask)).then(
        (decisions) => {
          batch.forEach((p, i) => settle(p, { decisions: decisions[i]! }));
          report("answered");
        },
        (error) => {
          const reason = error instanceof Error ? error : new Error(String(error));
          for (const p of batch) settle(p, { error: reason });
          report("failed", error);
        },
      ).finally(() => {
        inFlight--;
        pump(false);
      });
    }
  };

  return {
    check(requests: LimitRequest[], checkOptions: CheckOptions = {}): Promise<Decision[]> {
      if (queue.length >= options.maxQueued) {
        return Promise.reject(new Shed(`over ${options.maxQueued} decisions waiting here`));
      }
      const idle = queue.length === 0 && inFlight < options.maxInFlight;
      return new Promise<Decision[]>((resolve, reject) => {
        const p: Pending = {
          ask: { requests, cost: checkOptions.cost ?? 1 },
          resolve,
          reject,
          settled: false,
        };
        if (checkOptions.deadline !== undefined) {
          p.timer = setTimeout(() => onDeadline(p), Math.max(0, checkOptions.deadline - now()));
        }
        queue.push(p);
        pump(idle);
      });
    },
  };
}
