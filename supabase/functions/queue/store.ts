/** The queue API's SQL, in one place. */
import type { CompositeTypes, Tables } from "../_shared/database.types.ts";
import { type Db, query } from "../_shared/db.ts";
import type { EnqueueInput } from "./validate.ts";

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

/** public.enqueue_job()'s result; every field but outbox_id is always set. */
export type Enqueued =
  & {
    [K in "job_id" | "status" | "attempts" | "created_at"]: NonNullable<
      CompositeTypes<"enqueued_job">[K]
    >;
  }
  & {
    outcome: "created" | "existing" | "conflict";
    outbox_id: CompositeTypes<"enqueued_job">["outbox_id"];
  };

export interface QueueStore {
  enqueue(customerId: string, input: EnqueueInput, key: string | null): Promise<Enqueued>;
  listJobs(customerId: string, limit: number): Promise<JobView[]>;
  customerForApiKey(keyHashHex: string): Promise<string | undefined>;
}

export function sqlQueueStore(db: Db): QueueStore {
  return {
    async enqueue(customerId, input, key) {
      const [row] = await query<Enqueued>(
        db,
        `select outcome, job_id, status, attempts, created_at, outbox_id
           from public.enqueue_job($1, $2, $3, $4::jsonb, $5)`,
        [customerId, input.package_size, input.priority_level, JSON.stringify(input.payload), key],
      );
      return row!;
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
