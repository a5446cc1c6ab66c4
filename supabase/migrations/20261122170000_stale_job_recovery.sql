-- Stale-job recovery inside Postgres: a job whose worker stopped heartbeating is taken back
-- (lease revoked, pending again, re-sent through the outbox), and a job that keeps killing
-- workers is failed instead of retried forever. Scheduled every minute by pg_cron. Also prunes
-- pg_cron's run history and old queue_history rows daily.

alter table private.settings
  add column stale_threshold_seconds integer not null default 90
    check (stale_threshold_seconds between 5 and 86400),
  add column max_stale_recoveries integer not null default 3
    check (max_stale_recoveries between 0 and 100),
  add column history_retention_days integer not null default 30
    check (history_retention_days between 1 and 3650),
  add column cron_history_retention_days integer not null default 7
    check (cron_history_retention_days between 1 and 365);
comment on column private.settings.stale_threshold_seconds is
  'An in-progress job with no heartbeat for this long is stale (workers beat every 15 s; the old monitor used 600).';
comment on column private.settings.max_stale_recoveries is
  'How often a job may be recovered from a dead worker; the next time it goes stale it is failed.';
comment on column private.settings.history_retention_days is 'queue_history rows older than this are pruned daily.';
comment on column private.settings.cron_history_retention_days is
  'cron.job_run_details rows older than this are pruned daily.';

alter table public.jobs
  add column stale_recoveries integer not null default 0 check (stale_recoveries >= 0);
comment on column public.jobs.stale_recoveries is
  'How many times the job was taken back from a worker that stopped heartbeating.';

-- The staleness cutoff, in one place: a lease whose last sign of life (its last heartbeat, or
-- the claim when it never beat) is older than this is stale. Every reader of staleness (the
-- sweep, find_stale_jobs, health, the DLQ monitor, redrive) compares against it.
create function private.stale_before()
returns timestamptz
language sql
stable
set search_path = ''
as $$
  select now() - make_interval(secs => s.stale_threshold_seconds) from private.settings s;
$$;
comment on function private.stale_before() is
  'The staleness cutoff: now() minus the stale_threshold_seconds setting.';

-- Exactly the sweep's predicate: only in-progress rows are indexed, ordered by their last sign
-- of life, so a sweep reads the stale entries and nothing else, however large jobs grows. The
-- predicates below repeat the expression `coalesce(heartbeat_at, leased_at)` word for word
-- because that is how the planner matches them to this index.
create index jobs_stale_sweep_idx on public.jobs ((coalesce(heartbeat_at, leased_at)))
  where status = 'in_progress';

create function public.find_stale_jobs(threshold interval default null)
returns table (
  job_id uuid,
  customer_id text,
  worker_id text,
  attempts integer,
  stale_recoveries integer,
  leased_at timestamptz,
  last_heartbeat timestamptz,
  silent_for interval
)
language sql
stable
security definer
set search_path = ''
as $$
  select j.id, j.customer_id, j.leased_by, j.attempts, j.stale_recoveries, j.leased_at,
         j.heartbeat_at, now() - coalesce(j.heartbeat_at, j.leased_at)
    from public.jobs j
   where j.status = 'in_progress'
     and coalesce(j.heartbeat_at, j.leased_at)
         < coalesce(now() - threshold, private.stale_before())
   order by coalesce(j.heartbeat_at, j.leased_at);
$$;
comment on function public.find_stale_jobs(interval) is
  'In-progress jobs whose current lease has had no heartbeat for longer than threshold (default: the stale_threshold_seconds setting), including never.';

create view public.stale_jobs_view with (security_invoker = true) as
  select * from public.find_stale_jobs();
comment on view public.stale_jobs_view is
  'Jobs stale right now, by the configured threshold (see find_stale_jobs).';

create function public.recover_stale_jobs()
returns table (recovered integer, failed integer)
language plpgsql
security definer
set search_path = ''
as $$
declare
  settings private.settings;
  n_recovered integer;
  n_failed integer;
  taken_back uuid[];
begin
  -- One sweep at a time: an overlapping run waits, then finds nothing left to do.
  perform pg_advisory_xact_lock(hashtext('public.recover_stale_jobs'));
  select * into settings from private.settings;

  with stale as (
    select j.id, j.leased_by, j.stale_recoveries + 1 as recoveries
      from public.jobs j
     where j.status = 'in_progress'
       and coalesce(j.heartbeat_at, j.leased_at) < private.stale_before()
       for update skip locked
  ), changed as (
    update public.jobs j
       set status = case when s.recoveries > settings.max_stale_recoveries
                         then 'failed' else 'pending' end,
           completed_at = case when s.recoveries > settings.max_stale_recoveries
                               then now() end,
           error_message = case when s.recoveries > settings.max_stale_recoveries
             then format('Failed: went stale %s times (workers stopped heartbeating); not retried',
                         s.recoveries)
             else 'Recovered from stale state (no worker heartbeat)' end,
           stale_recoveries = s.recoveries,
           run_after = now(),
           -- Revoking the lease (trigger jobs_revoke_lease clears the rest of it) fences the
           -- old worker: its late calls are refused.
           lease_token = null
      from stale s
     where j.id = s.id
    returning j.id, j.status, j.attempts, j.error_message, s.leased_by
  ), history as (
    insert into public.queue_history (job_id, event, attempt, worker_id, reason)
    select c.id, case when c.status = 'failed' then 'failed' else 'recovered' end, c.attempts,
           c.leased_by, c.error_message
      from changed c
  ), resend as (
    insert into private.outbox (job_id) select c.id from changed c where c.status = 'pending'
  )
  select count(*) filter (where c.status = 'pending'), count(*) filter (where c.status = 'failed'),
         coalesce(array_agg(c.id), '{}')
    into n_recovered, n_failed, taken_back
    from changed c;
  perform private.free_workers(taken_back);

  if n_recovered > 0 then
    -- Send the recovered jobs now rather than at the next dispatch-outbox run.
    perform private.request_dispatch();
  end if;
  if n_recovered + n_failed > 0 then
    raise log 'recover_stale_jobs: recovered %, failed %', n_recovered, n_failed;
  end if;
  return query select n_recovered, n_failed;
end;
$$;
comment on function public.recover_stale_jobs() is
  'Takes back jobs whose worker stopped heartbeating (or fails them past max_stale_recoveries); returns the counts.';

revoke execute on function public.find_stale_jobs(interval), public.recover_stale_jobs()
  from public, anon, authenticated;
grant execute on function public.find_stale_jobs(interval), public.recover_stale_jobs()
  to service_role;
revoke all on table public.stale_jobs_view from anon, authenticated;
grant select on table public.stale_jobs_view to service_role;

-- Housekeeping, daily: neither pg_cron's run history nor queue_history prunes itself.
create function private.prune_history()
returns table (cron_runs bigint, history_rows bigint)
language plpgsql
set search_path = ''
as $$
declare
  settings private.settings;
begin
  select * into settings from private.settings;
  cron_runs := private.prune_cron_history(make_interval(days => settings.cron_history_retention_days));
  delete from public.queue_history
   where created_at < now() - make_interval(days => settings.history_retention_days);
  get diagnostics history_rows = row_count;
  return next;
end;
$$;
comment on function private.prune_history() is
  'Deletes cron run history and queue_history rows past their retention; returns the counts.';
revoke all on function private.prune_history(), private.stale_before() from public;

select cron.unschedule('prune-cron-history');
select cron.schedule('prune-history', '17 3 * * *', 'select * from private.prune_history()');
select cron.schedule('recover-stale-jobs', '* * * * *', 'select * from public.recover_stale_jobs()');
