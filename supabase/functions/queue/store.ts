/** The queue API's SQL, in one place. */
import type postgres from "postgres";
import type { Sql } from "../_shared/db.ts";
import type { EnqueueInput } from "./validate.ts";

export interface JobView {
  id: string;
  customer_id: string;
  status: string;
  package_size: number;
  priority_level: number;
  attempts: number;
  error_message: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  /** 1 = next to run, among all pending jobs; null unless pending. */
  queue_position: number | null;
}

export interface Enqueued {
  outcome: "created" | "existing" | "conflict";
  job_id: string;
  status: string;
  attempts: number;
  created_at: string;
  outbox_id: string | null;
}

export interface QueueStore {
  enqueue(customerId: string, input: EnqueueInput, key: string | null): Promise<Enqueued>;
  listJobs(customerId: string, limit: number): Promise<JobView[]>;
  customerForApiKey(keyHashHex: string): Promise<string | undefined>;
}

export function sqlQueueStore(sql: Sql): QueueStore {
  return {
    async enqueue(customerId, input, key) {
      const [row] = await sql<Enqueued[]>`
        select outcome, job_id::text, status, attempts, created_at, outbox_id::text
          from public.enqueue_job(${customerId}, ${input.package_size}, ${input.priority_level},
                                  ${sql.json(input.payload as postgres.JSONValue)}, ${key})`;
      return row!;
    },
    async listJobs(customerId, limit) {
      // Position: pending jobs ahead in run order (priority, then age), counted on the
      // partial index jobs_pending_order_idx.
      return await sql<JobView[]>`
        select j.id::text, j.customer_id, j.status, j.package_size, j.priority_level, j.attempts,
               j.error_message, j.created_at, j.updated_at, j.completed_at,
               case when j.status = 'pending' then (
                 select count(*)::int + 1 from public.jobs p
                  where p.status = 'pending'
                    and (p.priority_level > j.priority_level
                         or (p.priority_level = j.priority_level and p.created_at < j.created_at)))
               end as queue_position
          from public.jobs j
         where j.customer_id = ${customerId}
         order by j.created_at desc
         limit ${limit}`;
    },
    async customerForApiKey(keyHashHex) {
      const [row] = await sql<{ customer_id: string }[]>`
        select customer_id from private.api_keys
         where key_hash = decode(${keyHashHex}, 'hex') and revoked_at is null`;
      return row?.customer_id;
    },
  };
}
