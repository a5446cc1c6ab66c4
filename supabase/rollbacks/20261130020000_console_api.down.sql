-- Rolls back 20261130020000_console_api.sql: the console's SQL, its roll-up, records of cron
-- runs and alert attempts, the audit trail and operations are dropped; the cron jobs call their
-- functions directly again. Roll the console-api function back (remove it) first.
select cron.unschedule('resume-console-operations');
select cron.unschedule('roll-up-job-stats');
select cron.schedule('recover-stale-jobs', '* * * * *', 'select * from public.recover_stale_jobs()');
select cron.schedule('resend-lost-jobs', '*/10 * * * *', 'select private.resend_lost_jobs()');
select cron.schedule('rate-limit-cleanup', '*/10 * * * *', 'select private.prune_rate_limits()');
select cron.schedule('prune-history', '17 3 * * *', 'select * from private.prune_history()');
select cron.schedule('dispatch-outbox', '* * * * *', 'select private.request_dispatch()');
select cron.schedule('dlq-monitor', '* * * * *', $$select private.invoke_function('dlq-monitor')$$);

-- The worker calls as 20261129190000_worker_runtime left them (no refusal records).
create or replace function public.heartbeat(worker_id text, job_id uuid DEFAULT NULL::uuid, lease uuid DEFAULT NULL::uuid) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  holds boolean := heartbeat.job_id is null;
begin
  if heartbeat.job_id is not null and heartbeat.lease is not null then
    update public.jobs set heartbeat_at = now()
     where id = heartbeat.job_id and status = 'in_progress' and lease_token = heartbeat.lease;
    holds := found;
  end if;
  insert into public.worker_heartbeats (worker_id, current_job_id, last_heartbeat)
  values (heartbeat.worker_id, case when holds then heartbeat.job_id end, now())
  on conflict (worker_id) do update
    set current_job_id = excluded.current_job_id, last_heartbeat = excluded.last_heartbeat;
  return holds;
end;
$$;

create or replace function public.heartbeat_jobs(worker_id text, job_ids uuid[], leases uuid[], progress jsonb[] DEFAULT NULL::jsonb[]) RETURNS TABLE(job_id uuid, holds boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  n integer := coalesce(cardinality(job_ids), 0);
begin
  if coalesce(cardinality(leases), 0) <> n
     or (heartbeat_jobs.progress is not null and cardinality(heartbeat_jobs.progress) <> n) then
    raise exception 'heartbeat_jobs: job_ids, leases and progress must have the same length'
      using errcode = '22023';
  end if;
  return query
  with locked as (
    -- In id order, as claim_jobs and complete_jobs lock, so a beat and a completion of the same
    -- worker's jobs cannot deadlock.
    select j.id from public.jobs j
     where j.id = any (coalesce(job_ids, '{}'::uuid[]))
     order by j.id
       for update
  ), beat as (
    update public.jobs j
       set heartbeat_at = now(),
           progress = case when jsonb_typeof(b.progress) = 'object' then b.progress
                           else j.progress end
      from unnest(coalesce(job_ids, '{}'::uuid[]), coalesce(leases, '{}'::uuid[]),
                  coalesce(heartbeat_jobs.progress, array_fill(null::jsonb, array[n])))
           as b(id, lease, progress)
     where j.id = b.id and j.id in (select l.id from locked l)
       and j.status = 'in_progress' and j.lease_token = b.lease
    returning j.id
  ), alive as (
    -- current_job_id: the first job of this beat that still holds (workers_view lists them all).
    insert into public.worker_heartbeats (worker_id, current_job_id, last_heartbeat)
    values (heartbeat_jobs.worker_id,
            (select x.id from unnest(job_ids) with ordinality as x(id, o)
              where x.id in (select beat.id from beat) order by x.o limit 1),
            now())
    on conflict (worker_id) do update
      set current_job_id = excluded.current_job_id, last_heartbeat = excluded.last_heartbeat
  )
  select x.id, x.id in (select beat.id from beat)
    from unnest(coalesce(job_ids, '{}'::uuid[])) with ordinality as x(id, o)
   order by x.o;
end;
$$;

create or replace function public.complete_jobs(job_ids uuid[], leases uuid[], results jsonb[] DEFAULT NULL::jsonb[]) RETURNS TABLE(job_id uuid, done boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  n integer := coalesce(cardinality(job_ids), 0);
  ids uuid[];
  outcome_results jsonb[];
  holds boolean[];
  statuses text[];
  completed uuid[];
begin
  if coalesce(cardinality(leases), 0) <> n
     or (results is not null and cardinality(results) <> n) then
    raise exception 'complete_jobs: job_ids, leases and results must have the same length'
      using errcode = '22023';
  end if;
  -- Rows locked in id order, so two calls that share a job cannot deadlock.
  with asked as (
    select x.id, x.lease, x.result, x.o
      from unnest(coalesce(job_ids, '{}'::uuid[]), coalesce(leases, '{}'::uuid[]),
                  coalesce(results, array_fill(null::jsonb, array[n])))
           with ordinality as x(id, lease, result, o)
  ), locked as (
    select j.id, j.status, j.lease_token from public.jobs j
     where j.id in (select a.id from asked a)
     order by j.id
       for update
  )
  select coalesce(array_agg(a.id order by a.o), '{}'::uuid[]),
         coalesce(array_agg(a.result order by a.o), '{}'::jsonb[]),
         coalesce(array_agg(l.id is not null and l.lease_token is not distinct from a.lease
                            order by a.o), '{}'::boolean[]),
         coalesce(array_agg(l.status order by a.o), '{}'::text[])
    into ids, outcome_results, holds, statuses
    from asked a left join locked l on l.id = a.id;

with finished as (
    update public.jobs j
       set status = 'completed', completed_at = now(), result = d.result, error_message = null
      from unnest(ids, outcome_results, holds, statuses) as d(id, result, holds, status)
     where j.id = d.id and d.holds and d.status = 'in_progress'
    returning j.id, j.attempts, j.leased_by
  ), logged as (
    insert into public.queue_history (job_id, event, attempt, worker_id)
    select f.id, 'completed', f.attempts, f.leased_by from finished f
  )
  select coalesce(array_agg(f.id), '{}'::uuid[]) into completed from finished f;
  perform private.free_workers(completed);

-- true: completed now, or already by this lease (a retried call); false: the lease was lost.
  return query
    select d.id, d.holds and d.status in ('in_progress', 'completed')
      from unnest(ids, holds, statuses) with ordinality as d(id, holds, status, o)
     order by d.o;
end;
$$;

create or replace function public.fail_job(job_id uuid, lease uuid, error text, retryable boolean DEFAULT true) RETURNS public.job_failure
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  job public.jobs;
  settings private.settings;
  delay integer;
  result public.job_failure;
begin
  select * into job from public.jobs where id = fail_job.job_id for update;
  result.attempt := job.attempts;
  if not found or job.lease_token is distinct from fail_job.lease then
    result.outcome := 'lease_lost';
    return result;
  end if;
  -- The same holder asking again (a retried call) gets the same answer.
  if job.status = 'failed' then
    result.outcome := 'failed';
    return result;
  end if;
  if job.status = 'pending' then
    result.outcome := 'retrying';
    result.retry_in_seconds := greatest(0, ceil(extract(epoch from job.run_after - now())))::integer;
    return result;
  end if;
  if job.status <> 'in_progress' then
    result.outcome := 'lease_lost';
    return result;
  end if;

select * into settings from private.settings;
  perform private.free_workers(array[job.id]);
  if fail_job.retryable and job.attempts < settings.max_attempts then
    delay := private.backoff_seconds(settings.retry_base_seconds, settings.retry_max_seconds,
                                     job.attempts);
    -- The lease stays (so a retried call is recognised) but no longer holds: the job is pending.
    update public.jobs
       set status = 'pending', run_after = now() + make_interval(secs => delay),
           error_message = fail_job.error
     where id = job.id;
    insert into public.queue_history (job_id, event, attempt, worker_id, reason)
    values (job.id, 'retry_scheduled', job.attempts, job.leased_by, fail_job.error);
    result.outcome := 'retrying';
    result.retry_in_seconds := delay;
  else
    update public.jobs
       set status = 'failed', completed_at = now(), error_message = fail_job.error
     where id = job.id;
    insert into public.queue_history (job_id, event, attempt, worker_id, reason)
    values (job.id, 'failed', job.attempts, job.leased_by, fail_job.error);
    result.outcome := 'failed';
  end if;
  return result;
end;
$$;

create or replace function public.release_job(job_id uuid, lease uuid, reason text DEFAULT 'released by worker'::text) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  job public.jobs;
begin
  select * into job from public.jobs where id = release_job.job_id for update;
  if not found or job.status <> 'in_progress' or job.lease_token is distinct from release_job.lease then
    return false;
  end if;
  update public.jobs
     set status = 'pending', run_after = now(),
         lease_token = null -- revoked: see trigger jobs_revoke_lease
   where id = job.id;
  perform private.free_workers(array[job.id]);
  insert into public.queue_history (job_id, event, attempt, worker_id, reason)
  values (job.id, 'released', job.attempts, job.leased_by, release_job.reason);
  return true;
end;
$$;

drop function private.record_lease_refusals(text, text, uuid[]);
drop table private.lease_refusals;

drop function private.console_metrics();
drop function private.console_audit_page(bigint, integer);
drop function private.console_operations_page(bigint, integer);
drop function private.console_operation_view(private.console_operations);
drop procedure private.resume_console_operations(integer);
drop function private.console_run_operation(bigint, integer);
drop function private.console_start_operation(text, jsonb, uuid[], text, text);
drop function private.console_count_jobs(text, jsonb);
drop function private.console_operation_status(text);
drop function private.console_cancel_jobs(uuid[], text);
drop function private.console_retry_jobs(uuid[], text);
drop function private.console_refusals(interval, interval, integer);
drop function private.record_refusals(jsonb);
drop table private.rate_limit_refusal_totals;
drop table private.rate_limit_refusals_hourly;
drop table private.rate_limit_refusals;
drop function private.console_schedules(integer);
drop function private.console_alerts(bigint, integer);
drop function private.console_dead_letters(timestamptz, text, integer);
drop function private.console_workers(integer);
drop function private.console_recoveries(timestamptz, bigint, integer);
drop function private.console_leases(timestamptz, uuid, integer);
drop function private.console_job(uuid);
drop function private.console_jobs(jsonb, timestamptz, uuid, integer);
drop function private.console_overview();
drop function private.console_status_counts(integer);
drop function private.console_statuses(jsonb);
drop function private.console_job_filter(jsonb);
drop index public.queue_history_recoveries_idx;
drop index public.jobs_status_created_idx;
drop table private.console_operations;
drop table private.console_audit;
drop trigger alerts_record_attempt on private.alerts;
drop function private.record_alert_attempt();
drop table private.alert_attempts;
drop function private.record_cron_result(text, jsonb);
drop table private.cron_results;
drop function private.roll_up_job_stats();
drop aggregate private.sum_buckets(bigint[]);
drop function private.add_buckets(bigint[], bigint[]);
drop table private.job_stats_totals;
drop table private.job_stats;
drop function private.latency_bounds_ms();
