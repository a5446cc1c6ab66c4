-- What the operator data API (the console-api function) reads and does, kept fast at millions of
-- jobs: nothing here counts the whole jobs table or scans history on a read.
-- - private.job_stats: job events per minute, rolled up from queue_history by a pg_cron step
--   (each run reads only the minutes since the last one), with a histogram of queue latency
--   (enqueue to first claim). Throughput, failures and latency over 1 h / 24 h / 7 d come from it.
-- - private.cron_results: what each scheduled run of ours did, recorded by the run itself (the
--   cron commands are wrapped; the functions they call are unchanged).
-- - private.alert_attempts: every Slack delivery attempt of an alert, written by a trigger as
--   private.settle_alert() counts the try.
-- - private.console_audit and private.console_operations: who did what from the console, and the
--   bulk actions (retry, cancel), processed in batches of their own transactions.
-- - Reads for the console as functions returning JSON, one round trip each, keyset-paginated.
-- - private.rate_limit_refusals: who the rate limiter refused, as the functions count them.
-- - private.lease_refusals: late worker calls refused for a lost lease.
-- Adds two indexes: jobs by status and age (the jobs page, bulk actions), and the stale-recovery
-- events of queue_history (the recovery ledger).
--
-- Each of these also records the calls it refuses for a lost lease, and behaves as before otherwise:
-- Replaces public.heartbeat from 20261122160000_job_pipeline.
-- Replaces public.fail_job from 20261122160000_job_pipeline.
-- Replaces public.release_job from 20261122160000_job_pipeline.
-- Replaces public.heartbeat_jobs from 20261129190000_worker_runtime.
-- Replaces public.complete_jobs from 20261129190000_worker_runtime.

-- ---------------------------------------------------------------------------------------------
-- Roll-up of job events per minute.

create function private.latency_bounds_ms()
returns integer[]
language sql
immutable
set search_path = ''
as $$ select '{5,10,25,50,100,250,500,1000,2500,5000,10000,30000,60000,300000,1800000}'::integer[] $$;
comment on function private.latency_bounds_ms() is
  'Bucket bounds (ms) of the queue-latency histogram in private.job_stats: bucket 1 is below the first bound, bucket k from bound k-1 up to (not including) bound k, the last bucket the last bound and above.';

create table private.job_stats (
  minute timestamptz primary key,
  enqueued integer not null default 0,
  claimed integer not null default 0,
  completed integer not null default 0,
  failed integer not null default 0,
  retried integer not null default 0,
  recovered integer not null default 0,
  dead_lettered integer not null default 0,
  latency_buckets integer[] not null
    check (cardinality(latency_buckets) = cardinality(private.latency_bounds_ms()) + 1),
  latency_sum_ms bigint not null default 0
);
alter table private.job_stats enable row level security;
comment on table private.job_stats is
  'Job events per minute (from queue_history) over the last 8 days, rolled up by private.roll_up_job_stats().';
comment on column private.job_stats.latency_buckets is
  'Jobs first claimed in this minute, by how long they had waited since enqueue: a histogram over private.latency_bounds_ms().';
comment on column private.job_stats.retried is 'Failures that scheduled a retry (retry_scheduled).';

create table private.job_stats_totals (
  id boolean primary key default true check (id),
  enqueued bigint not null default 0,
  claimed bigint not null default 0,
  completed bigint not null default 0,
  failed bigint not null default 0,
  retried bigint not null default 0,
  recovered bigint not null default 0,
  dead_lettered bigint not null default 0,
  latency_buckets bigint[] not null
    default array_fill(0::bigint, array[cardinality(private.latency_bounds_ms()) + 1]),
  latency_sum_ms bigint not null default 0,
  rolled_up_to timestamptz
);
alter table private.job_stats_totals enable row level security;
insert into private.job_stats_totals default values;
comment on table private.job_stats_totals is
  'The sums of every minute ever rolled up (one row), kept by private.roll_up_job_stats(): the metrics'' counters, read in one row and never going down when old minutes are pruned; rolled_up_to is where the last run stopped (events before it are counted).';
comment on column private.job_stats.latency_sum_ms is
  'The first claims'' waits added up (ms): with the histogram''s count, the mean.';

create function private.add_buckets(a bigint[], b bigint[])
returns bigint[]
language sql
immutable
set search_path = ''
as $$
  select coalesce(array_agg(coalesce(x, 0) + coalesce(y, 0) order by o), '{}')
    from unnest(a, b) with ordinality as t(x, y, o);
$$;
comment on function private.add_buckets(bigint[], bigint[]) is
  'Adds two latency histograms bucket by bucket (a missing one counts as zeros).';

create aggregate private.sum_buckets(bigint[]) (
  sfunc = private.add_buckets,
  stype = bigint[]
);
comment on aggregate private.sum_buckets(bigint[]) is
  'Sums a few latency histograms bucket by bucket (the last hour''s; for the totals see private.job_stats_totals).';

create function private.roll_up_job_stats()
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  bounds constant integer[] := private.latency_bounds_ms();
  upto constant timestamptz := date_trunc('minute', now());
  since timestamptz;
  computed private.job_stats[];
begin
  perform pg_advisory_xact_lock(hashtext('private.roll_up_job_stats'));
  -- From two minutes before where the last run stopped: an event whose transaction committed
  -- after that run is counted now. (Not from the last minute with events: after a busy spell an
  -- idle queue would recount it every minute.) A first run, or one after a long stop, looks back
  -- one day.
  select greatest(t.rolled_up_to - interval '2 minutes', upto - interval '1 day')
    into since from private.job_stats_totals t;
  since := coalesce(since, upto - interval '1 day');

  with events as (
    select w.minute, w.event, w.wait_ms, width_bucket(w.wait_ms, bounds) + 1 as bucket
      from (select date_trunc('minute', h.created_at) as minute, h.event,
                   case when h.event = 'claimed' and h.attempt = 1 then
                     greatest(0, extract(epoch from h.created_at - j.created_at) * 1000)
                   end as wait_ms
              from public.queue_history h
              left join public.jobs j on h.event = 'claimed' and h.attempt = 1 and j.id = h.job_id
             where h.created_at >= since and h.created_at < upto) w
  ), per_bucket as (
    select e.minute, e.bucket, count(*)::integer as n from events e
     where e.bucket is not null group by e.minute, e.bucket
  ), minutes as (
    select e.minute,
           count(*) filter (where e.event = 'enqueued')::integer as enqueued,
           count(*) filter (where e.event = 'claimed')::integer as claimed,
           count(*) filter (where e.event = 'completed')::integer as completed,
           count(*) filter (where e.event = 'failed')::integer as failed,
           count(*) filter (where e.event = 'retry_scheduled')::integer as retried,
           count(*) filter (where e.event = 'recovered')::integer as recovered,
           count(*) filter (where e.event = 'dead_lettered')::integer as dead_lettered,
           coalesce(round(sum(e.wait_ms)), 0)::bigint as latency_sum_ms
      from events e group by e.minute
  )
  select coalesce(array_agg(row(
           m.minute, m.enqueued, m.claimed, m.completed, m.failed, m.retried, m.recovered,
           m.dead_lettered,
           array(select coalesce((select b.n from per_bucket b
                                   where b.minute = m.minute and b.bucket = k), 0)
                   from generate_series(1, cardinality(bounds) + 1) k order by k),
           m.latency_sum_ms
         )::private.job_stats), '{}')
    into computed
    from minutes m;

  -- The totals gain what the minutes hold now, less what they held before this run. A minute
  -- can only lose events if history was deleted (a job removed with its history): the totals
  -- never go down for that, as counters must not.
  with delta as (
    select 1 as sign, c.* from unnest(computed) c
    union all
    select -1, s.* from private.job_stats s
     where s.minute in (select c.minute from unnest(computed) c)
  ), per_minute as (
    select d.minute,
           greatest(0, sum(d.sign * d.enqueued)) as enqueued,
           greatest(0, sum(d.sign * d.claimed)) as claimed,
           greatest(0, sum(d.sign * d.completed)) as completed,
           greatest(0, sum(d.sign * d.failed)) as failed,
           greatest(0, sum(d.sign * d.retried)) as retried,
           greatest(0, sum(d.sign * d.recovered)) as recovered,
           greatest(0, sum(d.sign * d.dead_lettered)) as dead_lettered,
           greatest(0, sum(d.sign * d.latency_sum_ms)) as latency_sum_ms
      from delta d group by d.minute
  ), buckets as (
    select array_agg(x.n order by x.i) as b from (
      select u.i, sum(greatest(0, u.n))::bigint as n from (
        select d.minute, b.i, sum(d.sign * b.n) as n
          from delta d, unnest(d.latency_buckets) with ordinality b(n, i)
         group by d.minute, b.i) u
       group by u.i) x
  ), sums as (
    select coalesce(sum(p.enqueued), 0) as enqueued, coalesce(sum(p.claimed), 0) as claimed,
           coalesce(sum(p.completed), 0) as completed, coalesce(sum(p.failed), 0) as failed,
           coalesce(sum(p.retried), 0) as retried, coalesce(sum(p.recovered), 0) as recovered,
           coalesce(sum(p.dead_lettered), 0) as dead_lettered,
           coalesce(sum(p.latency_sum_ms), 0) as latency_sum_ms
      from per_minute p
  )
  update private.job_stats_totals t
     set enqueued = t.enqueued + x.enqueued, claimed = t.claimed + x.claimed,
         completed = t.completed + x.completed, failed = t.failed + x.failed,
         retried = t.retried + x.retried, recovered = t.recovered + x.recovered,
         dead_lettered = t.dead_lettered + x.dead_lettered,
         latency_sum_ms = t.latency_sum_ms + x.latency_sum_ms,
         latency_buckets = private.add_buckets(t.latency_buckets, (select b.b from buckets b)),
         rolled_up_to = upto
    from sums x;

  insert into private.job_stats select * from unnest(computed)
  on conflict (minute) do update
     set enqueued = excluded.enqueued, claimed = excluded.claimed,
         completed = excluded.completed, failed = excluded.failed, retried = excluded.retried,
         recovered = excluded.recovered, dead_lettered = excluded.dead_lettered,
         latency_buckets = excluded.latency_buckets, latency_sum_ms = excluded.latency_sum_ms;

  -- The 7-day view needs no more than 8 days; the totals keep what is pruned.
  delete from private.job_stats s where s.minute < upto - interval '8 days';
  -- Lease refusals are pruned here, once a minute, not by the worker calls that record them.
  delete from private.lease_refusals r
   where r.at < now() - make_interval(days => (select st.history_retention_days
                                               from private.settings st));
  return cardinality(computed);
end;
$$;
comment on function private.roll_up_job_stats() is
  'Counts queue_history events per minute into private.job_stats (the minutes since the last run, and the two before it again, so an event committed up to two minutes late is counted; later than that it is not), adds the difference to private.job_stats_totals, prunes minutes older than 8 days and old lease refusals. Returns the minutes written.';

-- ---------------------------------------------------------------------------------------------
-- What each scheduled run of ours did.

create table private.cron_results (
  id bigint generated always as identity primary key,
  jobname text not null,
  ran_at timestamptz not null default now(),
  result jsonb not null
);
alter table private.cron_results enable row level security;
create index cron_results_job_idx on private.cron_results (jobname, ran_at desc);
comment on table private.cron_results is
  'One row per scheduled run of ours: what it did (jobs recovered, rows pruned...), beside pg_cron''s own cron.job_run_details. Kept as long as cron_history_retention_days.';

create function private.record_cron_result(jobname text, result jsonb)
returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into private.cron_results (jobname, result) values (jobname, result);
  -- Prunes its own job's old rows as it goes: one index range, no separate sweep.
  delete from private.cron_results c
   where c.jobname = record_cron_result.jobname
     and c.ran_at < now() - make_interval(days => (select s.cron_history_retention_days
                                                   from private.settings s));
  return result;
end;
$$;
comment on function private.record_cron_result(text, jsonb) is
  'Records what a scheduled run did (the cron commands wrap their call in it) and returns it.';

select cron.schedule('recover-stale-jobs', '* * * * *',
  $$select private.record_cron_result('recover-stale-jobs', (select to_jsonb(r) from public.recover_stale_jobs() r))$$);
select cron.schedule('resend-lost-jobs', '*/10 * * * *',
  $$select private.record_cron_result('resend-lost-jobs', jsonb_build_object('resent', private.resend_lost_jobs()))$$);
select cron.schedule('rate-limit-cleanup', '*/10 * * * *',
  $$select private.record_cron_result('rate-limit-cleanup', jsonb_build_object('pruned', private.prune_rate_limits()))$$);
select cron.schedule('prune-history', '17 3 * * *',
  $$select private.record_cron_result('prune-history', (select to_jsonb(r) from private.prune_history() r))$$);
select cron.schedule('dispatch-outbox', '* * * * *',
  $$select private.record_cron_result('dispatch-outbox', jsonb_build_object('request_id', private.request_dispatch()))$$);
select cron.schedule('dlq-monitor', '* * * * *',
  $$select private.record_cron_result('dlq-monitor', jsonb_build_object('request_id', private.invoke_function('dlq-monitor')))$$);
select cron.schedule('roll-up-job-stats', '* * * * *',
  $$select private.record_cron_result('roll-up-job-stats', jsonb_build_object('minutes', private.roll_up_job_stats()))$$);

-- ---------------------------------------------------------------------------------------------
-- Slack delivery attempts.

create table private.alert_attempts (
  id bigint generated always as identity primary key,
  alert_id bigint not null references private.alerts (id) on delete cascade,
  attempt integer not null,
  at timestamptz not null default now(),
  delivered boolean not null,
  error text,
  next_try_at timestamptz
);
alter table private.alert_attempts enable row level security;
create index alert_attempts_alert_idx on private.alert_attempts (alert_id, attempt);
comment on table private.alert_attempts is
  'Every try to deliver an alert to Slack: delivered, or the error and when it is tried again.';

create function private.record_alert_attempt()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  insert into private.alert_attempts (alert_id, attempt, delivered, error, next_try_at)
  values (new.id, new.tries, new.delivered_at is not null,
          case when new.delivered_at is null then new.last_error end,
          case when new.delivered_at is null then new.available_at end);
  return new;
end;
$$;
comment on function private.record_alert_attempt() is
  'Trigger: an alert whose tries went up was just tried; records the attempt.';

create trigger alerts_record_attempt
  after update of tries on private.alerts
  for each row when (new.tries > old.tries)
  execute function private.record_alert_attempt();

-- ---------------------------------------------------------------------------------------------
-- Audit trail and tracked operations.

create table private.console_audit (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  actor text not null check (length(actor) between 1 and 300),
  role text not null check (role in ('viewer', 'operator', 'service')),
  action text not null check (action ~ '^[a-z][a-z_]*$'),
  target jsonb not null default '{}',
  affected integer not null default 0 check (affected >= 0),
  result text not null check (result in ('ok', 'refused', 'failed', 'started', 'finished')),
  detail jsonb
);
alter table private.console_audit enable row level security;
create index console_audit_at_idx on private.console_audit (at desc, id desc);
comment on table private.console_audit is
  'Every action asked of console-api, done or refused: who (the token''s email and subject, or the service role), with which role, what, on which jobs or filter, how many, and the result.';

create table private.console_operations (
  id bigint generated always as identity primary key,
  action text not null check (action in ('retry', 'cancel')),
  filter jsonb,
  job_ids uuid[],
  status text not null default 'running' check (status in ('running', 'done', 'failed')),
  estimated integer not null default 0,
  processed integer not null default 0,
  changed integer not null default 0,
  cursor_created_at timestamptz,
  cursor_id uuid,
  created_by text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  created_role text not null default 'operator' check (created_role in ('operator', 'service')),
  finished_at timestamptz,
  failures integer not null default 0,
  error text,
  check ((filter is null) <> (job_ids is null))
);
alter table private.console_operations enable row level security;
create index console_operations_running_idx on private.console_operations (updated_at)
  where status = 'running';
comment on table private.console_operations is
  'A bulk action from the console on a list of job ids or on every job matching a filter (as of its start: jobs created later are left alone): its estimate, progress (processed, changed), where the next batch starts, and batches that failed (5 in a row fail the operation).';

-- ---------------------------------------------------------------------------------------------
-- Indexes the console's reads use.

-- The jobs page (newest first within each status, merged) and the bulk actions' batches.
create index jobs_status_created_idx on public.jobs (status, created_at desc, id desc);

-- The recovery ledger: jobs taken back from silent workers, and those failed for going stale.
create index queue_history_recoveries_idx on public.queue_history (created_at desc, id desc)
  where event = 'recovered' or (event = 'failed' and reason like 'Failed: went stale%');

-- ---------------------------------------------------------------------------------------------
-- Lease refusals: a late heartbeat, completion, failure or release whose lease no longer holds
-- (the job was recovered from its worker, dead-lettered, cancelled), recorded from now on so the
-- recovery ledger shows what the old worker tried afterwards. The worker calls below are those of
-- 20261122160000_job_pipeline and 20261129190000_worker_runtime, each with one call added where
-- it refuses.

create table private.lease_refusals (
  id bigint generated always as identity primary key,
  at timestamptz not null default now(),
  job_id uuid not null references public.jobs (id) on delete cascade,
  call text not null check (call in ('heartbeat', 'complete', 'fail', 'release')),
  worker_id text,
  job_status text not null,
  job_leased_by text
);
alter table private.lease_refusals enable row level security;
create index lease_refusals_job_idx on private.lease_refusals (job_id, at);
create index lease_refusals_at_idx on private.lease_refusals (at);
comment on table private.lease_refusals is
  'Worker calls refused because their lease no longer held: which call, when, from which worker (heartbeats name it), and the job''s state then. Kept as long as history_retention_days (pruned by private.roll_up_job_stats()).';

create function private.record_lease_refusals(call text, worker_id text, job_ids uuid[])
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if coalesce(cardinality(job_ids), 0) = 0 then
    return;
  end if;
  insert into private.lease_refusals (job_id, call, worker_id, job_status, job_leased_by)
  select j.id, record_lease_refusals.call, record_lease_refusals.worker_id, j.status, j.leased_by
    from public.jobs j where j.id = any (job_ids);
end;
$$;
comment on function private.record_lease_refusals(text, text, uuid[]) is
  'Records worker calls refused for a lost lease (called by heartbeat, heartbeat_jobs, complete_jobs, fail_job and release_job).';

create or replace function public.heartbeat(worker_id text, job_id uuid default NULL::uuid, lease uuid default NULL::uuid) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  holds boolean := heartbeat.job_id is null;
begin
  if heartbeat.job_id is not null and heartbeat.lease is not null then
    update public.jobs set heartbeat_at = now()
     where id = heartbeat.job_id and status = 'in_progress' and lease_token = heartbeat.lease;
    holds := found;
    if not holds then
      perform private.record_lease_refusals('heartbeat', heartbeat.worker_id, array[heartbeat.job_id]);
    end if;
  end if;
  insert into public.worker_heartbeats (worker_id, current_job_id, last_heartbeat)
  values (heartbeat.worker_id, case when holds then heartbeat.job_id end, now())
  on conflict (worker_id) do update
    set current_job_id = excluded.current_job_id, last_heartbeat = excluded.last_heartbeat;
  return holds;
end;
$$;

create or replace function public.heartbeat_jobs(worker_id text, job_ids uuid[], leases uuid[], progress jsonb[] default NULL::jsonb[]) returns table(job_id uuid, holds boolean)
language plpgsql
security definer
set search_path = ''
as $$
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
  ), refused as (
    select private.record_lease_refusals('heartbeat', heartbeat_jobs.worker_id,
             array(select l.id from locked l where l.id not in (select beat.id from beat)))
  )
  select x.id, x.id in (select beat.id from beat)
    from unnest(coalesce(job_ids, '{}'::uuid[])) with ordinality as x(id, o)
   cross join (select count(*) from refused) r
   order by x.o;
end;
$$;

create or replace function public.complete_jobs(job_ids uuid[], leases uuid[], results jsonb[] default NULL::jsonb[]) returns table(job_id uuid, done boolean)
language plpgsql
security definer
set search_path = ''
as $$
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
  perform private.record_lease_refusals('complete', null, array(
    select d.id from unnest(ids, holds, statuses) as d(id, holds, status)
     where d.status is not null and not (d.holds and d.status in ('in_progress', 'completed'))));

-- true: completed now, or already by this lease (a retried call); false: the lease was lost.
  return query
    select d.id, d.holds and d.status in ('in_progress', 'completed')
      from unnest(ids, holds, statuses) with ordinality as d(id, holds, status, o)
     order by d.o;
end;
$$;

create or replace function public.fail_job(job_id uuid, lease uuid, error text, retryable boolean default true) returns public.job_failure
language plpgsql
security definer
set search_path = ''
as $$
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
    if found then
      perform private.record_lease_refusals('fail', null, array[job.id]);
    end if;
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
    perform private.record_lease_refusals('fail', null, array[job.id]);
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

create or replace function public.release_job(job_id uuid, lease uuid, reason text default 'released by worker'::text) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.jobs;
begin
  select * into job from public.jobs where id = release_job.job_id for update;
  if not found or job.status <> 'in_progress' or job.lease_token is distinct from release_job.lease then
    if found then
      perform private.record_lease_refusals('release', null, array[job.id]);
    end if;
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


-- ---------------------------------------------------------------------------------------------
-- Job filters, shared by the jobs page and the bulk actions.

create function private.console_job_filter(filter jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  key text;
  parts text[] := '{}'::text[];
begin
  if filter is null or jsonb_typeof(filter) <> 'object' then
    raise exception 'console filter must be a JSON object' using errcode = '22023';
  end if;
  for key in select jsonb_object_keys(filter) loop
    if key not in ('status', 'customer_id', 'priority_level', 'lane', 'created_after',
                   'created_before') then
      raise exception 'unknown console filter %', key using errcode = '22023';
    end if;
  end loop;
  -- Literals quoted by format(%L) and cast to the column's type: a bad value fails the cast.
  if filter ? 'status' then
    parts := parts || format('j.status = %L', filter->>'status');
  end if;
  if filter ? 'customer_id' then
    parts := parts || format('j.customer_id = %L', filter->>'customer_id');
  end if;
  if filter ? 'priority_level' then
    parts := parts || format('j.priority_level = %L::smallint', filter->>'priority_level');
  end if;
  if filter ? 'lane' then
    parts := parts || format('j.lane = %L', filter->>'lane');
  end if;
  if filter ? 'created_after' then
    parts := parts || format('j.created_at >= %L::timestamptz', filter->>'created_after');
  end if;
  if filter ? 'created_before' then
    parts := parts || format('j.created_at < %L::timestamptz', filter->>'created_before');
  end if;
  return coalesce(nullif(array_to_string(parts, ' and '), ''), 'true');
end;
$$;
comment on function private.console_job_filter(jsonb) is
  'The SQL condition (on jobs as j) for a console filter {status, customer_id, priority_level, lane, created_after, created_before}; unknown keys raise 22023.';

create function private.console_statuses(filter jsonb)
returns text[]
language sql
immutable
set search_path = ''
as $$
  select case when filter ? 'status' then array[filter->>'status']
              else array['pending', 'in_progress', 'completed', 'failed'] end;
$$;
comment on function private.console_statuses(jsonb) is
  'The statuses a console filter covers: the one it names, or all four.';

-- ---------------------------------------------------------------------------------------------
-- Reads.

create function private.console_status_counts(cap integer default 10000)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  -- Exact up to cap (each count stops there); above it, an estimate from the planner's
  -- statistics (rows in the table x the status's frequency), labelled as such.
  with exact as (
    select s.status,
           (select count(*) from (select 1 from public.jobs j where j.status = s.status
                                   limit cap + 1) x)::bigint as n
      from unnest(array['pending', 'in_progress', 'completed', 'failed']) s(status)
  ), stats as (
    select greatest(c.reltuples, 0)::float8 as rows,
           st.most_common_vals::text::text[] as vals, st.most_common_freqs as freqs
      from pg_class c
      left join pg_stats st on st.schemaname = 'public' and st.tablename = 'jobs'
                          and st.attname = 'status'
     where c.oid = 'public.jobs'::regclass
  )
  select jsonb_object_agg(e.status, case
    when e.n <= cap then jsonb_build_object('count', e.n, 'exact', true)
    else jsonb_build_object(
      'count', greatest(cap + 1, coalesce(round(st.rows * (
        select f from unnest(st.vals, st.freqs) as m(v, f) where m.v = e.status)), 0))::bigint,
      'exact', false,
      'basis', 'estimate from table statistics (exact counts stop at ' || cap || ')')
    end)
    from exact e cross join stats st;
$$;
comment on function private.console_status_counts(integer) is
  'Jobs per status: exact up to cap, above it estimated from table statistics (and labelled so).';

create function private.console_overview()
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  with windows(name, span, step) as (
    values ('1h', interval '1 hour', interval '1 minute'),
           ('24h', interval '24 hours', interval '15 minutes'),
           ('7d', interval '7 days', interval '2 hours')
  ), series as (
    select w.name, w.step, jsonb_agg(jsonb_build_object(
             'at', b.at, 'enqueued', coalesce(p.enqueued, 0), 'completed', coalesce(p.completed, 0),
             'failed', coalesce(p.failed, 0), 'retried', coalesce(p.retried, 0),
             'recovered', coalesce(p.recovered, 0)) order by b.at) as points
      from windows w
     cross join lateral generate_series(
             date_bin(w.step, now() - w.span, 'epoch'::timestamptz) + w.step,
             date_bin(w.step, now(), 'epoch'::timestamptz), w.step) b(at)
      left join lateral (
        select sum(s.enqueued) as enqueued, sum(s.completed) as completed,
               sum(s.failed) as failed, sum(s.retried) as retried, sum(s.recovered) as recovered
          from private.job_stats s where s.minute >= b.at and s.minute < b.at + w.step) p on true
     group by w.name, w.step
  ), latency as (
    select private.sum_buckets(s.latency_buckets::bigint[]) as buckets
      from private.job_stats s where s.minute >= now() - interval '1 hour'
  )
  select jsonb_build_object(
    'jobs', private.console_status_counts(),
    'oldest_pending_at', (select min(m) from unnest(array(
        select (select min(j.created_at) from public.jobs j
                 where j.status = 'pending' and j.lane = l.name)
          from private.priority_lanes l)) m),
    'stats_rolled_up_to', (select t.rolled_up_to from private.job_stats_totals t),
    'latency_1h', jsonb_build_object('bounds_ms', private.latency_bounds_ms(),
                                     'buckets', (select l.buckets from latency l)),
    'series', (select jsonb_object_agg(s.name, jsonb_build_object(
                 'step_seconds', extract(epoch from s.step)::integer, 'points', s.points))
                 from series s),
    'workers_active', (select count(*) from public.worker_heartbeats w
                        where w.last_heartbeat > private.stale_before()),
    'leases_at_risk', (select count(*) from public.jobs j where j.status = 'in_progress'
                         and coalesce(j.heartbeat_at, j.leased_at) < now() - (
                           select make_interval(secs => s.stale_threshold_seconds / 2.0)
                             from private.settings s)),
    'dlq', (select jsonb_build_object('depth_last_check', m.depth, 'checked_at', m.checked_at,
                                      'incident_since', m.incident_since)
              from private.dlq_monitor m),
    'dead_letters_recorded', (select count(*) from private.dead_letters),
    'operations_running', (select count(*) from private.console_operations o
                            where o.status = 'running'));
$$;
comment on function private.console_overview() is
  'The console''s overview: jobs per status (capped or estimated), oldest pending job, throughput and failures per window and queue latency from the per-minute roll-up, workers, leases at risk, DLQ state.';

create function private.console_jobs(filter jsonb, after_created_at timestamptz, after_id uuid,
                                     page integer)
returns setof jsonb
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  condition constant text := private.console_job_filter(filter) ||
    case when after_created_at is null then ''
         else format(' and (j.created_at, j.id) < (%L::timestamptz, %L::uuid)',
                     after_created_at, after_id) end;
  source text;
begin
  if filter ? 'customer_id' then
    -- One customer's jobs: its own index (customer_id, created_at) in order, whatever the status.
    source := format('select j.* from public.jobs j where %s
                       order by j.created_at desc, j.id desc limit %s', condition, page);
  else
    -- Newest first: one index range per status (jobs_status_created_idx), merged, so a page
    -- costs about `page` rows per status whatever the table's size.
    select string_agg(format(
             '(select j.* from public.jobs j where j.status = %L and %s
                order by j.created_at desc, j.id desc limit %s)', st, condition, page),
             ' union all ')
      into source
      from unnest(private.console_statuses(filter)) st;
  end if;
  return query execute format(
    'select jsonb_build_object(''id'', j.id, ''customer_id'', j.customer_id,
            ''status'', j.status, ''priority_level'', j.priority_level,
            ''priority_tier'', j.priority_tier, ''lane'', j.lane, ''attempts'', j.attempts,
            ''created_at'', j.created_at, ''updated_at'', j.updated_at,
            ''completed_at'', j.completed_at, ''leased_by'', j.leased_by,
            ''error_message'', left(j.error_message, 200), ''progress'', j.progress)
       from (%s) j order by j.created_at desc, j.id desc limit %s', source, page);
end;
$$;
comment on function private.console_jobs(jsonb, timestamptz, uuid, integer) is
  'One page of jobs matching a console filter, newest first, after the keyset (created_at, id).';

create function private.console_job(job_id uuid)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'job', to_jsonb(j) - 'lease_token',
    'stale_threshold_seconds', (select s.stale_threshold_seconds from private.settings s),
    'history', coalesce((select jsonb_agg(to_jsonb(h) - 'job_id' order by h.id)
                           from (select * from public.queue_history h
                                  where h.job_id = j.id order by h.id desc limit 500) h), '[]'),
    'outbox', coalesce((select jsonb_agg(jsonb_build_object(
                          'id', o.id, 'created_at', o.created_at, 'available_at', o.available_at,
                          'delivered_at', o.delivered_at, 'tries', o.tries,
                          'last_error', o.last_error, 'message_id', o.message_id) order by o.id)
                          from private.outbox o where o.job_id = j.id), '[]'),
    'dead_letters', coalesce((select jsonb_agg(to_jsonb(d) order by d.first_seen_at)
                                from private.dead_letters d where d.job_id = j.id), '[]'))
    from public.jobs j where j.id = console_job.job_id;
$$;
comment on function private.console_job(uuid) is
  'One job for the console: the row (without its lease token), its queue_history timeline (the last 500 events), outbox rows and dead letters; null when there is no such job.';

create function private.console_leases(after_beat timestamptz, after_id uuid, page integer)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  with s as (
    select make_interval(secs => st.stale_threshold_seconds) as threshold
      from private.settings st
  ), leases as (
    select j.id, j.customer_id, j.leased_by, j.leased_at, j.heartbeat_at, j.attempts,
           j.stale_recoveries, j.progress, coalesce(j.heartbeat_at, j.leased_at) as beat
      from public.jobs j
     where j.status = 'in_progress'
       and (after_beat is null
            or (coalesce(j.heartbeat_at, j.leased_at), j.id) > (after_beat, after_id))
     order by coalesce(j.heartbeat_at, j.leased_at), j.id
     limit page
  )
  select jsonb_build_object(
    'stale_threshold_seconds', extract(epoch from s.threshold)::integer,
    'at_risk_after_seconds', extract(epoch from s.threshold)::integer / 2,
    'leases', coalesce(jsonb_agg(jsonb_build_object(
       'job_id', l.id, 'customer_id', l.customer_id, 'worker_id', l.leased_by,
       'leased_at', l.leased_at, 'last_heartbeat', l.heartbeat_at, 'attempts', l.attempts,
       'stale_recoveries', l.stale_recoveries, 'progress', l.progress,
       'lease_age_seconds', round(extract(epoch from now() - l.leased_at)::numeric, 1),
       'silent_seconds', round(extract(epoch from now() - l.beat)::numeric, 1),
       'at_risk', now() - l.beat > s.threshold / 2,
       'recovery_due_at', l.beat + s.threshold) order by l.beat, l.id)
       filter (where l.id is not null), '[]'))
    from s left join leases l on true
   group by s.threshold;
$$;
comment on function private.console_leases(timestamptz, uuid, integer) is
  'Jobs in progress, longest silent first (keyset: last sign of life, id): worker, lease and heartbeat age against the stale threshold, and at_risk once silent for half of it.';

create function private.console_recoveries(before_at timestamptz, before_id bigint, page integer)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', h.id, 'at', h.created_at, 'job_id', h.job_id, 'worker_id', h.worker_id,
           'attempt', h.attempt,
           'outcome', case when h.event = 'recovered' then 'recovered' else 'failed' end,
           'reason', h.reason,
           'late_calls_refused', coalesce((select jsonb_agg(jsonb_build_object(
               'call', r.call, 'at', r.at, 'worker_id', r.worker_id) order by r.at)
             from (select * from private.lease_refusals r
                    where r.job_id = h.job_id and r.at >= h.created_at
                    order by r.at limit 10) r), '[]'))
         order by h.created_at desc, h.id desc), '[]')
    from (select * from public.queue_history h
           where (h.event = 'recovered' or (h.event = 'failed' and h.reason like 'Failed: went stale%'))
             and (before_at is null or (h.created_at, h.id) < (before_at, before_id))
           order by h.created_at desc, h.id desc limit page) h;
$$;
comment on function private.console_recoveries(timestamptz, bigint, integer) is
  'The recovery ledger, newest first: jobs taken back from a silent worker (or failed for going stale too often), from which worker, at which attempt, and the late calls refused afterwards (up to 10).';

create function private.console_workers(page integer)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
           'worker_id', w.worker_id, 'last_heartbeat', w.last_heartbeat,
           'silent_seconds', round(extract(epoch from w.silent_for)::numeric, 1),
           'alive', w.last_heartbeat > private.stale_before(),
           'jobs_held', w.jobs_held, 'job_ids', to_jsonb(w.job_ids[1:50]))
           order by w.last_heartbeat desc, w.worker_id), '[]')
    from (select * from public.workers_view v order by v.last_heartbeat desc, v.worker_id
           limit page) w;
$$;
comment on function private.console_workers(integer) is
  'Workers, latest sign of life first: silence, alive (within the stale threshold), and the jobs each holds (up to 50 ids).';

create function private.console_dead_letters(before_seen timestamptz, before_id text,
                                             page integer)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'monitor', (select jsonb_build_object('depth', m.depth, 'checked_at', m.checked_at,
                                          'incident_since', m.incident_since,
                                          'alerted_at', m.alerted_at, 'held_until', m.held_until)
                  from private.dlq_monitor m),
    'recorded', (select count(*) from private.dead_letters),
    'oldest_first_seen_at', (select min(d.first_seen_at) from private.dead_letters d),
    'by_action', coalesce((select jsonb_object_agg(a.action, a.n) from (
                   select d.action, count(*) as n from private.dead_letters d group by d.action) a),
                 '{}'),
    'without_job', (select count(*) from private.dead_letters d
                     where d.action in ('unknown_job', 'not_a_job')),
    'letters', coalesce((select jsonb_agg(jsonb_build_object(
                 'message_id', d.message_id, 'job_id', d.job_id, 'customer_id', d.customer_id,
                 'receive_count', d.receive_count, 'first_seen_at', d.first_seen_at,
                 'last_seen_at', d.last_seen_at, 'action', d.action, 'action_at', d.action_at,
                 'job_status', j.status, 'job_error', left(j.error_message, 200))
                 order by d.first_seen_at desc, d.message_id desc)
               from (select * from private.dead_letters d
                      where before_seen is null
                         or (d.first_seen_at, d.message_id) < (before_seen, before_id)
                      order by d.first_seen_at desc, d.message_id desc limit page) d
               left join public.jobs j on j.id = d.job_id), '[]'),
    'redrives', coalesce((select jsonb_agg(to_jsonb(r) order by r.redriven_at desc)
                 from (select * from private.redrives r order by r.redriven_at desc limit 20) r),
               '[]'));
$$;
comment on function private.console_dead_letters(timestamptz, text, integer) is
  'The DLQ as recorded: the monitor''s last check, recorded letters by the action taken on their job, letters with no job, a page of letters (newest first) with their job''s state, and the latest redrives.';

create function private.console_alerts(before_id bigint, page integer)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select jsonb_build_object(
    'slack', (select jsonb_build_object('ok', i.ok, 'detail', i.detail, 'updated_at', i.updated_at)
                from private.integration_status i where i.name = 'slack'),
    'undelivered', (select count(*) from private.alerts a where a.delivered_at is null),
    'alerts', coalesce((select jsonb_agg(jsonb_build_object(
                'id', a.id, 'kind', a.kind, 'text', a.message->>'text', 'created_at', a.created_at,
                'delivered_at', a.delivered_at, 'tries', a.tries, 'next_try_at',
                case when a.delivered_at is null then a.available_at end,
                'last_error', a.last_error,
                'attempts', coalesce((select jsonb_agg(jsonb_build_object(
                    'attempt', t.attempt, 'at', t.at, 'delivered', t.delivered, 'error', t.error,
                    'next_try_at', t.next_try_at) order by t.attempt)
                  from private.alert_attempts t where t.alert_id = a.id), '[]'))
                order by a.id desc)
              from (select * from private.alerts a where before_id is null or a.id < before_id
                     order by a.id desc limit page) a), '[]'));
$$;
comment on function private.console_alerts(bigint, integer) is
  'Alerts newest first with each Slack delivery attempt, how many wait undelivered, and whether Slack last worked.';

create function private.console_schedules(runs integer)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(jsonb_agg(jsonb_build_object(
    'name', j.jobname, 'schedule', j.schedule, 'active', j.active,
    'runs', coalesce((select jsonb_agg(jsonb_build_object(
               'run_id', d.runid, 'status', d.status, 'started_at', d.start_time,
               'ended_at', d.end_time, 'message', left(d.return_message, 200)) order by d.runid desc)
             from (select * from cron.job_run_details d where d.jobid = j.jobid
                    order by d.runid desc limit runs) d), '[]'),
    'results', coalesce((select jsonb_agg(jsonb_build_object('at', c.ran_at, 'result', c.result)
                          order by c.ran_at desc)
             from (select * from private.cron_results c where c.jobname = j.jobname
                    order by c.ran_at desc limit runs) c), '[]'))
    order by j.jobname), '[]')
    from cron.job j;
$$;
comment on function private.console_schedules(integer) is
  'Each pg_cron job: schedule, its latest runs from cron.job_run_details, and what our latest runs did (private.cron_results). Not its command: a project''s own cron jobs may carry keys in theirs.';

-- ---------------------------------------------------------------------------------------------
-- Rate-limit refusals, as the functions count them (never a write per refused request).

create table private.rate_limit_refusals (
  minute timestamptz not null,
  fn text not null check (fn ~ '^[a-z][a-z0-9_-]{0,63}$'),
  policy text not null check (length(policy) between 1 and 64),
  client_hash bytea not null check (length(client_hash) = 32),
  client_kind text not null check (client_kind in ('ip', 'user', 'key', 'customer', 'service')),
  customer_id text check (length(customer_id) between 1 and 128),
  refused integer not null check (refused > 0),
  primary key (minute, fn, policy, client_hash)
);
alter table private.rate_limit_refusals enable row level security;
create index rate_limit_refusals_client_idx on private.rate_limit_refusals (client_hash, minute);
comment on table private.rate_limit_refusals is
  'Requests the rate limiter refused, per minute, function, policy and client (2 days: the 1 h and 24 h views). The client is a SHA-256 hash and a kind, never an address or key; an API key''s hash is the one private.api_keys holds.';

create table private.rate_limit_refusals_hourly (
  hour timestamptz not null,
  fn text not null,
  policy text not null,
  client_hash bytea not null,
  client_kind text not null,
  customer_id text,
  refused integer not null check (refused > 0),
  primary key (hour, fn, policy, client_hash)
);
alter table private.rate_limit_refusals_hourly enable row level security;
comment on table private.rate_limit_refusals_hourly is
  'The same refusals per hour (8 days: the 7-day view reads 168 rows per client, not 10,080).';

create table private.rate_limit_refusal_totals (
  fn text not null,
  policy text not null,
  refused bigint not null default 0,
  primary key (fn, policy)
);
alter table private.rate_limit_refusal_totals enable row level security;
comment on table private.rate_limit_refusal_totals is
  'Refusals per function and policy since they were first counted: the metrics'' counters.';

create function private.record_refusals(refusals jsonb)
returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  written integer;
begin
  with given as (
    select r.minute, r.fn, r.policy, decode(r.client_hash, 'hex') as client_hash, r.client_kind,
           r.customer_id, r.refused
      from jsonb_to_recordset(refusals) as r(minute timestamptz, fn text, policy text,
                                             client_hash text, client_kind text,
                                             customer_id text, refused integer)
  ), per_client as (
    insert into private.rate_limit_refusals as t (minute, fn, policy, client_hash, client_kind,
                                                  customer_id, refused)
    select g.minute, g.fn, g.policy, g.client_hash, g.client_kind, g.customer_id, sum(g.refused)
      from given g
     group by g.minute, g.fn, g.policy, g.client_hash, g.client_kind, g.customer_id
    on conflict (minute, fn, policy, client_hash) do update
       set refused = t.refused + excluded.refused,
           customer_id = coalesce(excluded.customer_id, t.customer_id)
    returning 1
  ), per_hour as (
    insert into private.rate_limit_refusals_hourly as t (hour, fn, policy, client_hash,
                                                         client_kind, customer_id, refused)
    select date_trunc('hour', g.minute), g.fn, g.policy, g.client_hash, g.client_kind,
           max(g.customer_id), sum(g.refused)
      from given g
     group by date_trunc('hour', g.minute), g.fn, g.policy, g.client_hash, g.client_kind
    on conflict (hour, fn, policy, client_hash) do update
       set refused = t.refused + excluded.refused,
           customer_id = coalesce(excluded.customer_id, t.customer_id)
  ), totals as (
    insert into private.rate_limit_refusal_totals as t (fn, policy, refused)
    select g.fn, g.policy, sum(g.refused) from given g group by g.fn, g.policy
    on conflict (fn, policy) do update set refused = t.refused + excluded.refused
  )
  select count(*) into written from per_client;
  delete from private.rate_limit_refusals r where r.minute < now() - interval '2 days';
  delete from private.rate_limit_refusals_hourly r where r.hour < now() - interval '8 days';
  return written;
end;
$$;
comment on function private.record_refusals(jsonb) is
  'Adds what a function instance counted ([{minute, fn, policy, client_hash (hex), client_kind, customer_id, refused}]) to the refusals per minute and per hour and to their totals; prunes minutes older than 2 days and hours older than 8.';

create function private.console_refusals(span interval, step interval, top integer)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  with recent as (
    -- Up to a day from the minutes; longer from the hours (steps of a day's view are 15 min).
    select r.minute, r.fn, r.policy, r.client_hash, r.client_kind, r.customer_id, r.refused
      from private.rate_limit_refusals r
     where span <= interval '1 day' and r.minute >= now() - span
    union all
    select h.hour, h.fn, h.policy, h.client_hash, h.client_kind, h.customer_id, h.refused
      from private.rate_limit_refusals_hourly h
     where span > interval '1 day' and h.hour >= date_trunc('hour', now() - span)
  ), policies as (
    select r.fn, r.policy, jsonb_agg(jsonb_build_object('at', r.at, 'refused', r.refused)
                                     order by r.at) as points, sum(r.refused) as refused
      from (select x.fn, x.policy, date_bin(step, x.minute, 'epoch'::timestamptz) as at,
                   sum(x.refused) as refused
              from recent x group by 1, 2, 3) r
     group by r.fn, r.policy
  ), clients as (
    select r.client_hash, r.client_kind, max(r.customer_id) as customer_id,
           sum(r.refused) as refused, max(r.minute) as last_minute,
           array_agg(distinct r.policy) as policies, array_agg(distinct r.fn) as functions
      from recent r group by r.client_hash, r.client_kind
     order by sum(r.refused) desc limit top
  ), client_points as (
    -- The top clients' refusals over time, in the same steps as the policies'.
    select p.client_hash, jsonb_agg(jsonb_build_object('at', p.at, 'refused', p.refused)
                                    order by p.at) as points
      from (select x.client_hash, date_bin(step, x.minute, 'epoch'::timestamptz) as at,
                   sum(x.refused) as refused
              from recent x where x.client_hash in (select c.client_hash from clients c)
             group by 1, 2) p
     group by p.client_hash
  )
  select jsonb_build_object(
    'policies', coalesce((select jsonb_agg(jsonb_build_object(
                  'function', p.fn, 'policy', p.policy, 'refused', p.refused, 'points', p.points)
                  order by p.refused desc) from policies p), '[]'),
    'top_clients', coalesce((select jsonb_agg(jsonb_build_object(
                  'client', left(encode(c.client_hash, 'hex'), 12), 'kind', c.client_kind,
                  'customer_id', coalesce(c.customer_id, k.customer_id), 'key_name', k.name,
                  'refused', c.refused, 'last_refused_minute', c.last_minute,
                  'policies', c.policies, 'functions', c.functions, 'points', cp.points)
                  order by c.refused desc)
                  from clients c
                  join client_points cp on cp.client_hash = c.client_hash
                  left join private.api_keys k on c.client_kind = 'key' and k.key_hash = c.client_hash),
                '[]'));
$$;
comment on function private.console_refusals(interval, interval, integer) is
  'Rate-limit refusals over a window: per function and policy as a series of steps, and the clients refused most (hash prefix, kind, customer, API key name), each with its own series.';

-- ---------------------------------------------------------------------------------------------
-- Actions.

create function private.console_retry_jobs(job_ids uuid[], actor text)
returns table (job_id uuid, outcome text)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  -- A failed job goes back to pending with a new outbox row; anything else is left as it is.
  -- Attempts are kept: a retried job gets its claim, and a retryable failure past max_attempts
  -- fails it again (one more try, as Sidekiq's retry of a dead job).
  return query
  with asked as (
    select distinct x.id from unnest(coalesce(console_retry_jobs.job_ids, '{}')) x(id)
  ), locked as (
    select j.id, j.status from public.jobs j where j.id in (select a.id from asked a)
     order by j.id for update
  ), retried as (
    update public.jobs j
       set status = 'pending', completed_at = null, run_after = now(), capped_at = null,
           lease_token = null
      from locked l
     where j.id = l.id and l.status = 'failed'
    returning j.id, j.attempts
  ), queued as (
    insert into private.outbox (job_id) select r.id from retried r
  ), logged as (
    insert into public.queue_history (job_id, event, attempt, reason)
    select r.id, 'retried', r.attempts, left('Retried by ' || actor, 300) from retried r
  )
  select a.id,
         case when l.id is null then 'not_found'
              when r.id is not null then 'retried'
              else 'not_failed' end
    from asked a left join locked l on l.id = a.id left join retried r on r.id = a.id;
end;
$$;
comment on function private.console_retry_jobs(uuid[], text) is
  'Puts failed jobs back to pending (new outbox row, queue_history "retried"); per id: retried, not_failed or not_found.';

create function private.console_cancel_jobs(job_ids uuid[], actor text)
returns table (job_id uuid, outcome text)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  -- A pending job becomes failed "Cancelled by <actor>"; a claim then answers `finished`, so
  -- the worker drops its message. A job a worker already holds is not cancelled (not_pending).
  return query
  with asked as (
    select distinct x.id from unnest(coalesce(console_cancel_jobs.job_ids, '{}')) x(id)
  ), locked as (
    select j.id, j.status from public.jobs j where j.id in (select a.id from asked a)
     order by j.id for update
  ), cancelled as (
    update public.jobs j
       set status = 'failed', completed_at = now(), lease_token = null,
           error_message = left('Cancelled by ' || actor, 300)
      from locked l
     where j.id = l.id and l.status = 'pending'
    returning j.id, j.attempts
  ), logged as (
    insert into public.queue_history (job_id, event, attempt, reason)
    select c.id, 'cancelled', c.attempts, left('Cancelled by ' || actor, 300) from cancelled c
  )
  select a.id,
         case when l.id is null then 'not_found'
              when c.id is not null then 'cancelled'
              else 'not_pending' end
    from asked a left join locked l on l.id = a.id left join cancelled c on c.id = a.id;
end;
$$;
comment on function private.console_cancel_jobs(uuid[], text) is
  'Cancels pending jobs: failed with "Cancelled by <actor>" (queue_history "cancelled"); per id: cancelled, not_pending or not_found.';

create function private.console_operation_status(action text)
returns text
language sql
immutable
set search_path = ''
as $$ select case action when 'retry' then 'failed' when 'cancel' then 'pending' end $$;
comment on function private.console_operation_status(text) is
  'The status a bulk action applies to: retry takes failed jobs, cancel pending ones.';

create function private.console_count_jobs(action text, filter jsonb)
returns bigint
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  n bigint;
  target constant text := private.console_operation_status(action);
begin
  if target is null then
    raise exception 'unknown console action %', action using errcode = '22023';
  end if;
  if not (target = any(private.console_statuses(filter))) then return 0; end if;
  execute format('select count(*) from public.jobs j where j.status = %L and %s',
                 target, private.console_job_filter(filter)) into n;
  return n;
end;
$$;
comment on function private.console_count_jobs(text, jsonb) is
  'Dry run of a bulk action on a filter: how many jobs it would change now.';

create function private.console_start_operation(action text, filter jsonb, job_ids uuid[],
                                                actor text, actor_role text)
returns private.console_operations
language plpgsql
security definer
set search_path = ''
as $$
declare
  op private.console_operations;
begin
  insert into private.console_operations (action, filter, job_ids, estimated, created_by,
                                          created_role)
  values (action, filter, job_ids,
          case when job_ids is null then private.console_count_jobs(action, filter)
               else cardinality(job_ids) end,
          actor, actor_role)
  returning * into op;
  -- Audited in the same transaction: no operation runs unrecorded.
  insert into private.console_audit (actor, role, action, target, affected, result)
  values (actor, actor_role, 'bulk_' || action,
          jsonb_build_object('operation', op.id) ||
            case when job_ids is null then jsonb_build_object('filter', filter)
                 else jsonb_build_object('job_count', cardinality(job_ids)) end,
          op.estimated, 'started');
  return op;
end;
$$;
comment on function private.console_start_operation(text, jsonb, uuid[], text, text) is
  'Records a bulk action (on a filter or a list of ids) with its estimate, and audits its start; batches then run it.';

create function private.console_run_operation(operation_id bigint, batch integer)
returns private.console_operations
language plpgsql
security definer
set search_path = ''
as $$
declare
  op private.console_operations;
  ids uuid[];
  last_created timestamptz;
  last_id uuid;
  n_changed integer;
  finished boolean;
  state text;
begin
  -- One runner per operation: another (the function's, or the cron step's) skips it.
  select * into op from private.console_operations o
   where o.id = operation_id and o.status = 'running'
     for update skip locked;
  if not found then return null; end if;

  begin
    if op.job_ids is not null then
      -- A list: the next `batch` ids after the cursor (processed counts the ids done).
      ids := op.job_ids[op.processed + 1 : op.processed + batch];
      finished := op.processed + coalesce(cardinality(ids), 0) >= cardinality(op.job_ids);
    else
      -- A filter: the next `batch` matching jobs of the action's status, newest first, created
      -- before the operation began; those it changed leave the status, and the keyset moves past
      -- what was seen.
      execute format(
        'select array_agg(x.id order by x.created_at desc, x.id desc),
                (array_agg(x.created_at order by x.created_at desc, x.id desc))[count(*)],
                (array_agg(x.id order by x.created_at desc, x.id desc))[count(*)]
           from (select j.id, j.created_at from public.jobs j
                  where j.status = %L and %s and (j.created_at, j.id) < (%L::timestamptz, %L::uuid)
                  order by j.created_at desc, j.id desc limit %s) x',
        private.console_operation_status(op.action), private.console_job_filter(op.filter),
        coalesce(op.cursor_created_at, op.created_at),
        coalesce(op.cursor_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid), batch)
        into ids, last_created, last_id;
      finished := coalesce(cardinality(ids), 0) < batch;
    end if;

    if op.action = 'retry' then
      select count(*) filter (where r.outcome = 'retried') into n_changed
        from private.console_retry_jobs(ids, op.created_by) r;
    else
      select count(*) filter (where r.outcome = 'cancelled') into n_changed
        from private.console_cancel_jobs(ids, op.created_by) r;
    end if;

    update private.console_operations o
       set processed = o.processed + coalesce(cardinality(ids), 0),
           changed = o.changed + n_changed,
           cursor_created_at = coalesce(last_created, o.cursor_created_at),
           cursor_id = coalesce(last_id, o.cursor_id),
           updated_at = now(), failures = 0, error = null,
           status = case when finished then 'done' else 'running' end,
           finished_at = case when finished then now() end
     where o.id = op.id
    returning * into op;
  exception when others then
    -- The batch is undone; the operation records it and is tried again (the next batch call, or
    -- the cron step), and fails after 5 in a row. Callers see the SQLSTATE; the log the rest.
    get stacked diagnostics state = returned_sqlstate;
    raise log 'console operation %: batch failed: % (%)', op.id, sqlerrm, state;
    update private.console_operations o
       set failures = o.failures + 1, updated_at = now(),
           error = format('batch failed (SQLSTATE %s)', state),
           status = case when o.failures + 1 >= 5 then 'failed' else o.status end,
           finished_at = case when o.failures + 1 >= 5 then now() end
     where o.id = op.id
    returning * into op;
  end;

  if op.status <> 'running' then
    insert into private.console_audit (actor, role, action, target, affected, result, detail)
    values (op.created_by, op.created_role, 'bulk_' || op.action,
            jsonb_build_object('operation', op.id), op.changed,
            case when op.status = 'done' then 'finished' else 'failed' end,
            jsonb_build_object('processed', op.processed, 'estimated', op.estimated) ||
              case when op.error is null then '{}'::jsonb
                   else jsonb_build_object('error', op.error) end);
  end if;
  return op;
end;
$$;
comment on function private.console_run_operation(bigint, integer) is
  'Runs the next batch of a bulk action in the caller''s transaction and records progress (or the failure of the batch); null when the operation is finished or another runner holds it.';

-- Neither security definer nor a SET clause: either would forbid the COMMITs between batches.
-- pg_cron runs it as the owner; every name in it is schema-qualified.
create procedure private.resume_console_operations(batch integer default 1000)
language plpgsql
as $$
declare
  op_id bigint;
  op private.console_operations;
begin
  -- Operations whose runner (a console-api instance) stopped: no batch for 30 s. Each batch is
  -- committed on its own, so a million jobs never sit in one transaction.
  for op_id in select o.id from private.console_operations o
                where o.status = 'running' and o.updated_at < now() - interval '30 seconds'
                order by o.id loop
    loop
      op := private.console_run_operation(op_id, batch);
      commit;
      -- A failed batch is tried again at the next run, not at once.
      exit when op is null or op.status <> 'running' or op.failures > 0;
    end loop;
  end loop;
end;
$$;
comment on procedure private.resume_console_operations(integer) is
  'pg_cron: finishes bulk actions whose runner stopped, one committed batch at a time.';

select cron.schedule('resume-console-operations', '* * * * *',
  'call private.resume_console_operations()');

create function private.console_operation_view(o private.console_operations)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select to_jsonb(o) - 'cursor_created_at' - 'cursor_id' - 'job_ids'
         || jsonb_build_object('job_count', cardinality(o.job_ids));
$$;
comment on function private.console_operation_view(private.console_operations) is
  'An operation as the console shows it: without its cursor, its list of ids as a count.';

create function private.console_operations_page(before_id bigint, page integer)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(jsonb_agg(private.console_operation_view(o) order by o.id desc), '[]')
    from (select * from private.console_operations o
           where before_id is null or o.id < before_id order by o.id desc limit page) o;
$$;
comment on function private.console_operations_page(bigint, integer) is
  'Bulk actions newest first, with progress.';

create function private.console_audit_page(before_id bigint, page integer)
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  select coalesce(jsonb_agg(to_jsonb(a) order by a.id desc), '[]')
    from (select * from private.console_audit a
           where before_id is null or a.id < before_id order by a.id desc limit page) a;
$$;
comment on function private.console_audit_page(bigint, integer) is 'The audit trail, newest first.';

revoke all on function
  private.latency_bounds_ms(), private.add_buckets(bigint[], bigint[]),
  private.roll_up_job_stats(), private.record_cron_result(text, jsonb),
  private.record_alert_attempt(), private.console_job_filter(jsonb),
  private.console_statuses(jsonb), private.console_status_counts(integer),
  private.console_overview(), private.console_jobs(jsonb, timestamptz, uuid, integer),
  private.console_job(uuid), private.console_leases(timestamptz, uuid, integer),
  private.console_recoveries(timestamptz, bigint, integer), private.console_workers(integer),
  private.console_dead_letters(timestamptz, text, integer), private.console_alerts(bigint, integer),
  private.console_schedules(integer), private.console_retry_jobs(uuid[], text),
  private.console_cancel_jobs(uuid[], text), private.console_operation_status(text),
  private.console_count_jobs(text, jsonb),
  private.console_start_operation(text, jsonb, uuid[], text, text),
  private.console_run_operation(bigint, integer),
  private.console_operations_page(bigint, integer), private.console_audit_page(bigint, integer),
  private.console_operation_view(private.console_operations),
  private.record_refusals(jsonb), private.console_refusals(interval, interval, integer),
  private.record_lease_refusals(text, text, uuid[])
from public;
revoke all on function private.sum_buckets(bigint[]) from public;
revoke all on procedure private.resume_console_operations(integer) from public;

-- ---------------------------------------------------------------------------------------------
-- Metrics for machines (GET /console-api/metrics): counters from the roll-up's totals (which
-- only grow), gauges that are cheap to read.

create function private.console_metrics()
returns jsonb
language sql
stable
security definer
set search_path = ''
as $$
  with totals as (select t.* from private.job_stats_totals t)
  select jsonb_build_object(
    'jobs', private.console_status_counts(),
    'events_total', jsonb_build_object('enqueued', t.enqueued, 'claimed', t.claimed,
                      'completed', t.completed, 'failed', t.failed, 'retried', t.retried,
                      'recovered', t.recovered, 'dead_lettered', t.dead_lettered),
    'latency_bounds_ms', private.latency_bounds_ms(),
    'latency_buckets', t.latency_buckets,
    'latency_sum_ms', t.latency_sum_ms,
    'stats_rolled_up_to', t.rolled_up_to,
    'workers_active', (select count(*) from public.worker_heartbeats w
                        where w.last_heartbeat > private.stale_before()),
    'leases', (select count(*) from public.jobs j where j.status = 'in_progress'),
    'outbox_waiting', (select count(*) from private.outbox o where o.delivered_at is null),
    'dead_letters_recorded', (select count(*) from private.dead_letters),
    'alert_attempts', (select jsonb_build_object(
                         'delivered', count(*) filter (where a.delivered),
                         'failed', count(*) filter (where not a.delivered))
                         from private.alert_attempts a),
    'alerts_undelivered', (select count(*) from private.alerts a where a.delivered_at is null),
    'refusals_total', coalesce((select jsonb_agg(jsonb_build_object(
                        'function', r.fn, 'policy', r.policy, 'refused', r.refused)
                        order by r.fn, r.policy) from private.rate_limit_refusal_totals r), '[]'),
    'operations_running', (select count(*) from private.console_operations o
                            where o.status = 'running'))
    from totals t;
$$;
comment on function private.console_metrics() is
  'What GET /console-api/metrics reports from the database: job counts, event totals and the queue-latency histogram since the roll-up began, workers, leases, outbox, dead letters, alert deliveries.';
revoke all on function private.console_metrics() from public;
