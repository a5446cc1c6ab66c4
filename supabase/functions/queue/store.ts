/** The queue API's SQL, in one place. */
import type { Tables } from "../_shared/database.types.ts";
import { type Db, type FunctionRow, query } from "../_shared/db.ts";
import { isUnreachable } from "../_shared/errors.ts";
import type { BulkItem } from "./validate.ts";

export type JobView =
  & Pick<
    Tables<"jobs">,
    | "id"
    | "customer_id"
    | "status"
    | "package_size"
    | "priority_level"
    | "priority_tier"
    | "lane"
    | "attempts"
    | "error_message"
    | "created_at"
    | "updated_at"
    | "completed_at"
    | "progress"
  >
  & {
    /**
     * An estimate, within the job's lane: 1 + the lane's pending jobs enqueued before it (SQS
     * decides the actual order); null unless pending.
     */
    queue_position: number | null;
  };

/** One job of an enqueue's answer, in the order of the request. */
export interface EnqueuedJob {
  job_id: string;
  status: string;
  attempts: number;
  created_at: string;
  /** As stored: a tier's number, and the tier (null when the job was given a number). */
  priority_level: number;
  priority_tier: string | null;
  /** The lane (SQS queue) its messages go to. */
  lane: string;
  /** created: a new job (its outbox row, reserved for this caller); existing: a replay. */
  outcome: "created" | "existing";
  outbox_id: number | null;
}

/** What the jobs policy said of the new jobs (none were charged on a replay). */
export interface JobsCharge {
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
}

export type EnqueueResult =
  | { kind: "enqueued"; jobs: EnqueuedJob[]; charge?: JobsCharge }
  /** A key reused for other content: the whole batch's (item undefined) or an item's. */
  | { kind: "conflict"; item?: number }
  | { kind: "rate_limited"; charge: JobsCharge }
  /** An item (by index) named a tier the database does not know; knownTiers lowest first. */
  | { kind: "unknown_tier"; item: number; knownTiers: string[] };

/** The jobs policy as private.enqueue_requests() takes it (per request). */
export interface JobsLimit {
  key: string;
  limit: number;
  periodMs: number;
}

export interface EnqueueOptions {
  /** A bulk request's Idempotency-Key, covering the whole batch. */
  batchKey: string | null;
  limit?: JobsLimit;
}

export interface QueueStore {
  /** 1..n jobs in one transaction, all or nothing. */
  enqueue(customerId: string, items: BulkItem[], options: EnqueueOptions): Promise<EnqueueResult>;
  listJobs(customerId: string, limit: number): Promise<JobView[]>;
  customerForApiKey(keyHashHex: string): Promise<string | undefined>;
}

/** A row of private.enqueue_requests(): which columns are set depends on the outcome. */
type EnqueueRow = {
  [K in keyof FunctionRow<"private", "enqueue_requests">]:
    | FunctionRow<"private", "enqueue_requests">[K]
    | null;
};

const ENQUEUE = `select request, item, outcome, job_id, status, attempts, created_at, outbox_id,
         limit_remaining, limit_reset_ms, limit_retry_after_ms, priority_level, priority_tier,
         lane, known_tiers
    from private.enqueue_requests($1::jsonb, $2)`;

/**
 * Worth one more try of the same call: an item key lost to a concurrent enqueue (40001, raised by
 * enqueue_requests; the replay then returns the winner's job), or a deadlock between two calls
 * taking the same keys in another order (40P01). Nothing of the failed try was kept.
 */
const RETRYABLE = new Set(["40001", "40P01"]);

/**
 * Enqueue calls in flight at once per instance (the pool's other connections serve GETs and the
 * sends' settles), and jobs one call takes at most.
 */
export const MAX_ENQUEUE_CALLS = 2;
export const MAX_JOBS_PER_CALL = 1_000;

function charge(row: EnqueueRow): JobsCharge | undefined {
  return row.limit_remaining === null ? undefined : {
    remaining: row.limit_remaining,
    resetMs: row.limit_reset_ms!,
    retryAfterMs: row.limit_retry_after_ms!,
  };
}

/** One request's rows (in item order) as its answer. */
function result(rows: EnqueueRow[], items: number): EnqueueResult {
  const first = rows[0];
  if (!first) throw new Error("enqueue_requests answered nothing for a request");
  if (first.outcome === "conflict") return { kind: "conflict", item: first.item ?? undefined };
  if (first.outcome === "rate_limited") return { kind: "rate_limited", charge: charge(first)! };
  if (first.outcome === "unknown_tier") {
    return { kind: "unknown_tier", item: first.item!, knownTiers: first.known_tiers ?? [] };
  }
  if (rows.length !== items || rows.some((row) => row.job_id === null)) {
    throw new Error(`enqueue_requests answered ${rows.length} jobs for ${items} items`);
  }
  return {
    kind: "enqueued",
    charge: charge(first),
    jobs: rows.map((row) => ({
      job_id: row.job_id!,
      status: row.status!,
      attempts: row.attempts!,
      created_at: row.created_at!,
      priority_level: row.priority_level!,
      priority_tier: row.priority_tier,
      lane: row.lane!,
      outcome: row.outcome as EnqueuedJob["outcome"],
      outbox_id: row.outbox_id,
    })),
  };
}

interface Waiting {
  customerId: string;
  items: BulkItem[];
  options: EnqueueOptions;
  /** The (customer, key) pairs it uses: two requests sharing one never go in one call. */
  keys: string[];
  resolve(result: EnqueueResult): void;
  reject(error: unknown): void;
}

/**
 * Enqueues gathered across concurrent requests: while MAX_ENQUEUE_CALLS calls are in flight, new
 * requests wait and then go together in one private.enqueue_requests() call (one transaction,
 * one commit, one charge of the jobs policy for all), each still all or nothing. A lone request
 * goes at once. The database's per-call and per-commit costs are shared under load, which is
 * when they matter.
 */
function gatheredEnqueue(db: Db, reserveSeconds: number): QueueStore["enqueue"] {
  let waiting: Waiting[] = [];
  let inFlight = 0;

  /** One call for the group's requests, tried again once when the failure says to. */
  async function rows(group: Waiting[]): Promise<EnqueueRow[]> {
    const values = [
      JSON.stringify(group.map((w) => ({
        customer_id: w.customerId,
        items: w.items,
        batch_key: w.options.batchKey ?? undefined,
        limit_key: w.options.limit?.key,
        limit_count: w.options.limit?.limit,
        limit_period_ms: w.options.limit?.periodMs,
      }))),
      reserveSeconds,
    ];
    try {
      return await query<EnqueueRow>(db, ENQUEUE, values);
    } catch (error) {
      if (!RETRYABLE.has((error as { code?: string }).code ?? "")) throw error;
      return await query<EnqueueRow>(db, ENQUEUE, values);
    }
  }

  /** Settles every waiter of the group, whatever happens. */
  async function call(group: Waiting[]): Promise<void> {
    let answer: EnqueueRow[];
    try {
      answer = await rows(group);
    } catch (error) {
      // A database out of reach fails everyone alike. Any other failure may be one request's
      // (a value the database refused): the group goes again in halves, one after the other, so
      // it fails only its own request and holds one connection meanwhile.
      if (group.length === 1 || isUnreachable(error)) {
        for (const w of group) w.reject(error);
      } else {
        const half = Math.ceil(group.length / 2);
        await call(group.slice(0, half));
        await call(group.slice(half));
      }
      return;
    }
    const byRequest: EnqueueRow[][] = group.map(() => []);
    for (const row of answer) byRequest[row.request!]?.push(row);
    group.forEach((w, i) => {
      try {
        w.resolve(result(byRequest[i]!.sort((a, b) => a.item! - b.item!), w.items.length));
      } catch (error) {
        w.reject(error);
      }
    });
  }

  function pump(): void {
    while (inFlight < MAX_ENQUEUE_CALLS && waiting.length > 0) {
      const group: Waiting[] = [];
      const rest: Waiting[] = [];
      const keys = new Set<string>();
      let jobs = 0;
      for (const w of waiting) {
        const fits = group.length === 0 ||
          (jobs + w.items.length <= MAX_JOBS_PER_CALL && !w.keys.some((k) => keys.has(k)));
        if (!fits) {
          rest.push(w);
          continue;
        }
        group.push(w);
        jobs += w.items.length;
        for (const k of w.keys) keys.add(k);
      }
      waiting = rest;
      inFlight++;
      void call(group).finally(() => {
        inFlight--;
        pump();
      });
    }
  }

  return (customerId, items, options) =>
    new Promise((resolve, reject) => {
      const keys = items.flatMap((i) =>
        i.idempotency_key ? [`job\u0000${customerId}\u0000${i.idempotency_key}`] : []
      );
      if (options.batchKey) keys.push(`batch\u0000${customerId}\u0000${options.batchKey}`);
      waiting.push({ customerId, items, options, keys, resolve, reject });
      pump();
    });
}

/**
 * reserveSeconds: how long new outbox rows are left to this instance's send after the answer
 * before the scheduled dispatch takes them (QUEUE_SEND_RESERVE_SECONDS).
 */
export function sqlQueueStore(db: Db, reserveSeconds: number): QueueStore {
  return {
    enqueue: gatheredEnqueue(db, reserveSeconds),
    async listJobs(customerId, limit) {
      // Position: the lane's pending jobs enqueued earlier, counted on the partial index
      // jobs_pending_lane_idx. Within a lane SQS keeps roughly the order of sending.
      return await query<JobView>(
        db,
        `select j.id, j.customer_id, j.status, j.package_size, j.priority_level, j.priority_tier,
                j.lane, j.attempts, j.error_message, j.created_at, j.updated_at, j.completed_at,
                j.progress,
                case when j.status = 'pending' then (
                  select count(*)::int + 1 from public.jobs p
                   where p.status = 'pending' and p.lane = j.lane and p.created_at < j.created_at)
                end as queue_position
           from public.jobs j
          where j.customer_id = $1
          order by j.created_at desc
          limit $2`,
        [customerId, limit],
      );
    },
    async customerForApiKey(keyHashHex) {
      const [row] = await query<Pick<Tables<{ schema: "private" }, "api_keys">, "customer_id">>(
        db,
        `select customer_id from private.api_keys
          where key_hash = decode($1, 'hex') and revoked_at is null`,
        [keyHashHex],
      );
      return row?.customer_id;
    },
  };
}
