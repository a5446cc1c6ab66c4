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

create function private.health_snapshot()
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'jobs_pending', (select count(*) from public.jobs where status = 'pending'),
    'jobs_in_progress', (select count(*) from public.jobs where status = 'in_progress'),
    'jobs_completed_today', (select count(*) from public.jobs
                              where status = 'completed' and completed_at >= date_trunc('day', now())),
    'jobs_failed_today', (select count(*) from public.jobs
                           where status = 'failed' and completed_at >= date_trunc('day', now())),
    'workers_active', (select count(*) from public.worker_heartbeats w, private.settings s
                        where w.last_heartbeat > now() - make_interval(secs => s.stale_threshold_seconds)),
    'jobs_stale', (select count(*) from public.find_stale_jobs()),
    'outbox_waiting', (select count(*) from private.outbox
                        where delivered_at is null and available_at <= now() - interval '2 minutes'),
    'misconfigured', coalesce((
      select jsonb_agg(jsonb_build_object('name', i.name, 'detail', i.detail) order by i.name)
        from private.integration_status i where not i.ok), '[]'::jsonb),
    'cron_jobs', coalesce((
      select jsonb_agg(jsonb_build_object(
               'name', j.jobname, 'schedule', j.schedule, 'active', j.active,
               'last_run', r.start_time, 'last_status', r.status) order by j.jobname)
        from cron.job j
        left join lateral (
          select d.start_time, d.status from cron.job_run_details d
           where d.jobid = j.jobid order by d.runid desc limit 1) r on true), '[]'::jsonb)
  );
$$;
comment on function private.health_snapshot() is
  'Everything GET /health needs from the database, in one call: job counts, workers, stale jobs, cron runs, misconfigured integrations.';
revoke all on function private.health_snapshot() from public;
