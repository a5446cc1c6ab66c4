/**
 * console-api's database calls: one SQL function per read (each returns JSON, one round trip;
 * see migration 20261130020000_console_api), the actions, and the audit trail.
 */
import { type DbClient, query } from "../_shared/db.ts";
import type { ConsoleRole } from "./access.ts";
import type { BulkAction, JobFilter } from "./params.ts";

export type Json = Record<string, unknown>;

export interface Operation extends Json {
  id: number;
  action: BulkAction;
  status: "running" | "done" | "failed";
  estimated: number;
  processed: number;
  changed: number;
  /** Batches that failed in a row (5 fail the operation). */
  failures: number;
}

export interface AuditEntry {
  actor: string;
  role: ConsoleRole;
  action: string;
  target: Json;
  affected: number;
  result: "ok" | "refused" | "failed" | "started" | "finished";
  detail?: Json;
}

export interface ConsoleStore {
  overview(): Promise<Json>;
  jobs(filter: JobFilter, after: [string, string] | null, page: number): Promise<Json[]>;
  job(id: string): Promise<Json | null>;
  leases(after: [string, string] | null, page: number): Promise<Json>;
  recoveries(before: [string, number] | null, page: number): Promise<Json[]>;
  workers(page: number): Promise<Json[]>;
  deadLetters(before: [string, string] | null, page: number): Promise<Json>;
  alerts(before: number | null, page: number): Promise<Json>;
  schedules(runs: number): Promise<Json[]>;
  operations(before: number | null, page: number): Promise<Json[]>;
  operation(id: number): Promise<Json | null>;
  audit(before: number | null, page: number): Promise<Json[]>;
  /** Rate-limit refusals over `window` (steps of `stepSeconds`), and the top clients. */
  refusals(window: string, stepSeconds: number, top: number): Promise<Json>;
  /** Per id: retried / not_failed / not_found (retry), cancelled / not_pending / not_found. */
  act(
    action: BulkAction,
    ids: string[],
    actor: string,
  ): Promise<{ job_id: string; outcome: string }[]>;
  /** A dry run: the jobs the action would change now. */
  countMatching(
    action: BulkAction,
    target: { filter: JobFilter } | { ids: string[] },
  ): Promise<number>;
  /** Records the operation and audits its start, in one transaction. */
  startOperation(
    action: BulkAction,
    target: { filter: JobFilter } | { ids: string[] },
    actor: string,
    role: "operator" | "service",
  ): Promise<Operation>;
  /** Runs one batch; null once the operation is finished (or another runner holds it). */
  runBatch(id: number, batch: number): Promise<Operation | null>;
  recordAudit(entry: AuditEntry): Promise<void>;
  /** What GET /metrics reports from the database. */
  metrics(): Promise<Json>;
}

async function one<T>(db: DbClient, text: string, values: unknown[] = []): Promise<T> {
  const [row] = await query<{ v: T }>(db, text, values);
  return row!.v;
}

export function sqlConsoleStore(db: DbClient): ConsoleStore {
  return {
    overview: () => one(db, "select private.console_overview() as v"),
    jobs: async (filter, after, page) =>
      (await query<{ v: Json }>(
        db,
        "select v from private.console_jobs($1::jsonb, $2::timestamptz, $3::uuid, $4) as v",
        [JSON.stringify(filter), after?.[0] ?? null, after?.[1] ?? null, page],
      )).map((r) => r.v),
    job: (id) => one(db, "select private.console_job($1::uuid) as v", [id]),
    leases: (after, page) =>
      one(db, "select private.console_leases($1::timestamptz, $2::uuid, $3) as v", [
        after?.[0] ?? null,
        after?.[1] ?? null,
        page,
      ]),
    recoveries: (before, page) =>
      one(db, "select private.console_recoveries($1::timestamptz, $2::bigint, $3) as v", [
        before?.[0] ?? null,
        before?.[1] ?? null,
        page,
      ]),
    workers: (page) => one(db, "select private.console_workers($1) as v", [page]),
    deadLetters: (before, page) =>
      one(db, "select private.console_dead_letters($1::timestamptz, $2::text, $3) as v", [
        before?.[0] ?? null,
        before?.[1] ?? null,
        page,
      ]),
    alerts: (before, page) =>
      one(db, "select private.console_alerts($1::bigint, $2) as v", [before, page]),
    schedules: (runs) => one(db, "select private.console_schedules($1) as v", [runs]),
    operations: (before, page) =>
      one(db, "select private.console_operations_page($1::bigint, $2) as v", [before, page]),
    operation: async (id) => {
      const rows = await query<{ v: Json }>(
        db,
        "select private.console_operation_view(o) as v from private.console_operations o where o.id = $1",
        [id],
      );
      return rows[0]?.v ?? null;
    },
    audit: (before, page) =>
      one(db, "select private.console_audit_page($1::bigint, $2) as v", [before, page]),
    refusals: (window, stepSeconds, top) =>
      one(
        db,
        "select private.console_refusals($1::interval, make_interval(secs => $2), $3) as v",
        [window, stepSeconds, top],
      ),
    act: (action, ids, actor) =>
      query(
        db,
        `select job_id::text, outcome from private.console_${
          action === "retry" ? "retry" : "cancel"
        }_jobs($1::uuid[], $2)`,
        [ids, actor],
      ),
    countMatching: async (action, target) =>
      Number(
        "ids" in target
          ? await one(
            db,
            `select count(*) as v from public.jobs j
              where j.id = any($2::uuid[]) and j.status = private.console_operation_status($1)`,
            [action, target.ids],
          )
          : await one(db, "select private.console_count_jobs($1, $2::jsonb) as v", [
            action,
            JSON.stringify(target.filter),
          ]),
      ),
    startOperation: (action, target, actor, role) =>
      one(
        db,
        `select private.console_operation_view(
                  private.console_start_operation($1, $2::jsonb, $3::uuid[], $4, $5)) as v`,
        [
          action,
          "filter" in target ? JSON.stringify(target.filter) : null,
          "ids" in target ? target.ids : null,
          actor,
          role,
        ],
      ),
    runBatch: async (id, batch) => {
      // A finished operation comes back as a row of nulls: no id, no operation.
      const rows = await query<{ v: Operation }>(
        db,
        `select private.console_operation_view(r) as v
           from private.console_run_operation($1, $2) r where r.id is not null`,
        [id, batch],
      );
      return rows[0]?.v ?? null;
    },
    recordAudit: async (entry) => {
      await query(
        db,
        `insert into private.console_audit (actor, role, action, target, affected, result, detail)
         values ($1, $2, $3, $4::jsonb, $5, $6, $7::jsonb)`,
        [
          entry.actor,
          entry.role,
          entry.action,
          JSON.stringify(entry.target),
          entry.affected,
          entry.result,
          entry.detail ? JSON.stringify(entry.detail) : null,
        ],
      );
    },
    metrics: () => one(db, "select private.console_metrics() as v"),
  };
}
