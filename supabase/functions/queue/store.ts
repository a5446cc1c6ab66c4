/** The queue API's SQL, in one place. */
import type { Tables } from "../_shared/database.types.ts";
import { type Db, type FunctionRow, query } from "../_shared/db.ts";
import type { BulkItem } from "./validate.ts";

export type JobView =
  & Pick<
    Tables<"jobs">,
    | "id"
    | "customer_id"
    | "status"
    | "package_size"
    | "priority_level"
    | "attempts"
    | "error_message"
    | "created_at"
    | "updated_at"
    | "completed_at"
  >
  & {
    /** 1 = next to run, among all pending jobs; null unless pending. */
    queue_position: number | null;
  };

/** One job of an enqueue's answer, in the order of the request. */
export interface EnqueuedJob {
  job_id: string;
  status: string;
  attempts: number;
  created_at: string;
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
  | { kind: "rate_limited"; charge: JobsCharge };

/** The jobs policy as private.enqueue_jobs() takes it. */
export interface JobsLimit {
  key: string;
  limit: number;
  periodMs: number;
}

export interface EnqueueOptions {
  /** A bulk request's Idempotency-Key, covering the whole batch. */
  batchKey: string | null;
  limit?: JobsLimit;
  /** Seconds the new outbox rows are left to this instance's send before dispatch takes them. */
  reserveSeconds: number;
}

export interface QueueStore {
  /** 1..n jobs in one transaction, all or nothing. */
  enqueue(customerId: string, items: BulkItem[], options: EnqueueOptions): Promise<EnqueueResult>;
  listJobs(customerId: string, limit: number): Promise<JobView[]>;
  customerForApiKey(keyHashHex: string): Promise<string | undefined>;
}

/** A row of private.enqueue_jobs(): which columns are set depends on the outcome. */
type EnqueueRow = {
  [K in keyof FunctionRow<"private", "enqueue_jobs">]:
    | FunctionRow<"private", "enqueue_jobs">[K]
    | null;
};

const ENQUEUE = `select item, outcome, job_id, status, attempts, created_at, outbox_id,
         limit_remaining, limit_reset_ms, limit_retry_after_ms
    from private.enqueue_jobs($1, $2::jsonb, $3, decode($4, 'hex'), $5, $6, $7)`;

/** SQLSTATE of private.enqueue_jobs() losing an item key to a concurrent enqueue. */
const LOST_KEY_RACE = "40001";

function charge(row: EnqueueRow): JobsCharge | undefined {
  return row.limit_remaining === null ? undefined : {
    remaining: row.limit_remaining,
    resetMs: row.limit_reset_ms!,
    retryAfterMs: row.limit_retry_after_ms!,
  };
}

export function sqlQueueStore(db: Db): QueueStore {
  return {
    async enqueue(customerId, items, options) {
      const values = [
        customerId,
        JSON.stringify(items),
        options.batchKey,
        options.limit?.key ?? null,
        options.limit?.limit ?? null,
        options.limit?.periodMs ?? null,
        options.reserveSeconds,
      ];
      let rows: EnqueueRow[];
      try {
        rows = await query<EnqueueRow>(db, ENQUEUE, values);
      } catch (error) {
        // Lost an item key to a concurrent request: once that one has committed, the same call
        // is a replay (or a conflict) and nothing of the first try was kept.
        if ((error as { code?: string }).code !== LOST_KEY_RACE) throw error;
        rows = await query<EnqueueRow>(db, ENQUEUE, values);
      }
      const first = rows[0]!;
      if (first.outcome === "conflict") return { kind: "conflict", item: first.item ?? undefined };
      if (first.outcome === "rate_limited") return { kind: "rate_limited", charge: charge(first)! };
      return {
        kind: "enqueued",
        charge: charge(first),
        jobs: rows.map((row) => ({
          job_id: row.job_id!,
          status: row.status!,
          attempts: row.attempts!,
          created_at: row.created_at!,
          outcome: row.outcome as EnqueuedJob["outcome"],
          outbox_id: row.outbox_id,
        })),
      };
    },
    async listJobs(customerId, limit) {
      // Position: pending jobs ahead in run order (priority, then age), counted on the
      // partial index jobs_pending_order_idx.
      return await query<JobView>(
        db,
        `select j.id, j.customer_id, j.status, j.package_size, j.priority_level, j.attempts,
                j.error_message, j.created_at, j.updated_at, j.completed_at,
                case when j.status = 'pending' then (
                  select count(*)::int + 1 from public.jobs p
                   where p.status = 'pending'
                     and (p.priority_level > j.priority_level
                          or (p.priority_level = j.priority_level and p.created_at < j.created_at)))
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
