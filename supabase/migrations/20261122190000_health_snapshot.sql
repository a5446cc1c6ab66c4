-- Health: one call returns the database side of GET /health. Every figure comes from an index
-- that holds only the rows it counts (pending, in progress, finished today), so the cost does
-- not grow with the number of finished jobs.

-- Outside services a function found misconfigured (the DLQ monitor records a Slack webhook
-- answering 400/403/404/410 here); health reports each as degraded until it works again.
create table private.integration_status (
  name text primary key,
  ok boolean not null,
  -- Safe to show: never the secret itself (no webhook URL, no key).
  detail text not null default '',
  updated_at timestamptz not null default now()
);
comment on table private.integration_status is
  'Whether each outside integration (e.g. slack) last worked; written by the functions that use them.';
alter table private.integration_status enable row level security;

-- The snapshot's shape is declared here, so `deno task gen:types` types it for the health function
-- (which reads it as to_jsonb(row): node-postgres does not parse composite values).
create type private.integration_problem as (name text, detail text);
comment on type private.integration_problem is 'An integration a function found misconfigured.';
create type private.cron_job_state as (
  name text,
  schedule text,
  active boolean,
  last_run timestamptz,
  last_status text
);
comment on type private.cron_job_state is 'A pg_cron job and what its latest run did.';

create function private.health_snapshot()
returns table (
  jobs_pending bigint,
  jobs_in_progress bigint,
  jobs_completed_today bigint,
  jobs_failed_today bigint,
  workers_active bigint,
  jobs_stale bigint,
  outbox_waiting bigint,
  misconfigured private.integration_problem[],
  cron_jobs private.cron_job_state[]
)
language sql
stable
set search_path = ''
as $$
  select
    (select count(*) from public.jobs where status = 'pending'),
    (select count(*) from public.jobs where status = 'in_progress'),
    (select count(*) from public.jobs
      where status = 'completed' and completed_at >= date_trunc('day', now())),
    (select count(*) from public.jobs
      where status = 'failed' and completed_at >= date_trunc('day', now())),
    (select count(*) from public.worker_heartbeats w
      where w.last_heartbeat > private.stale_before()),
    (select count(*) from public.find_stale_jobs()),
    (select count(*) from private.outbox
      where delivered_at is null and available_at <= now() - interval '2 minutes'),
    array(select row(i.name, i.detail)::private.integration_problem
            from private.integration_status i where not i.ok order by i.name),
    array(select row(j.jobname, j.schedule, j.active, r.start_time, r.status)::private.cron_job_state
            from cron.job j
            left join lateral (
              select d.start_time, d.status from cron.job_run_details d
               where d.jobid = j.jobid order by d.runid desc limit 1) r on true
           order by j.jobname);
$$;
comment on function private.health_snapshot() is
  'Everything GET /health needs from the database, in one call: job counts, workers, stale jobs, cron runs, misconfigured integrations.';
revoke all on function private.health_snapshot() from public;
