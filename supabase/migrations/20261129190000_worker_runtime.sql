-- Worker runtime: a worker holds many jobs at once, so the contract gains array forms that do
-- for all of them in one round trip, set-based, what the single-job forms do for one (claim_jobs,
-- heartbeat_jobs, complete_jobs). The single-job forms stay for workers in other languages.
--
-- Replaces public.claim_job from 20261122160000_job_pipeline: it is now claim_jobs with one id.
-- Replaces public.complete_job from 20261122160000_job_pipeline: it is now complete_jobs with one
-- job. So one body holds each set of rules (same answers as before).
-- A heartbeat may carry each job's progress, stored on the job for GET /queue/<customer>.
-- public.workers_view shows every job each worker holds, from the leases themselves.

alter table public.jobs
  add column progress jsonb check (progress is null or jsonb_typeof(progress) = 'object');
comment on column public.jobs.progress is
  'What the handler last reported: {"done", "total", "note", "attempt", "at"}; sent with heartbeats.';

create function public.claim_jobs(job_ids uuid[], worker_id text)
returns setof public.job_lease
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  ids uuid[];
  outcomes text[];
  due_at timestamptz[];
  claimed uuid[];
begin
  -- Each id's answer, decided on the rows as locked now (in id order, so concurrent claims
  -- cannot deadlock). skip locked: a job another transaction is changing right now is not ours
  -- to take. An id asked twice in one call is claimed once; the second ask answers leased.
  with wanted as (
    select x.id, x.o, row_number() over (partition by x.id order by x.o) = 1 as first_ask
      from unnest(coalesce(claim_jobs.job_ids, '{}'::uuid[])) with ordinality as x(id, o)
  ), locked as (
    select j.id, j.status, j.run_after from public.jobs j
     where j.id in (select w.id from wanted w)
     order by j.id
       for update skip locked
  )
  select coalesce(array_agg(w.id order by w.o), '{}'::uuid[]),
         coalesce(array_agg(
           case
             when l.id is null then
               case when exists (select 1 from public.jobs j where j.id = w.id) then 'leased'
                    else 'unknown_job' end
             when l.status in ('completed', 'failed') then 'finished'
             when l.status = 'in_progress' or not w.first_ask then 'leased'
             when l.run_after > now() then 'not_due'
             else 'claimed'
           end order by w.o), '{}'::text[]),
         coalesce(array_agg(l.run_after order by w.o), '{}'::timestamptz[])
    into ids, outcomes, due_at
    from wanted w left join locked l on l.id = w.id;

  with taken as (
    update public.jobs j
       set status = 'in_progress',
           attempts = j.attempts + 1,
           lease_token = gen_random_uuid(),
           leased_by = claim_jobs.worker_id,
           leased_at = now(),
           heartbeat_at = null,
           progress = null -- an earlier attempt's progress says nothing of this one
      from unnest(ids, outcomes) as d(id, outcome)
     where d.outcome = 'claimed' and j.id = d.id
    returning j.id, j.attempts
  ), logged as (
    insert into public.queue_history (job_id, event, attempt, worker_id)
    select t.id, 'claimed', t.attempts, claim_jobs.worker_id from taken t
  )
  select coalesce(array_agg(t.id), '{}'::uuid[]) into claimed from taken t;

  if cardinality(claimed) > 0 then
    -- current_job_id: the job of this call claimed last (workers_view lists them all).
    insert into public.worker_heartbeats (worker_id, current_job_id, last_heartbeat)
    values (claim_jobs.worker_id,
            (select d.id from unnest(ids, outcomes) with ordinality as d(id, outcome, o)
              where d.outcome = 'claimed' order by d.o desc limit 1),
            now())
    on conflict (worker_id) do update
      set current_job_id = excluded.current_job_id, last_heartbeat = excluded.last_heartbeat;
  end if;

  return query
    select d.outcome, d.id, j.attempts, j.lease_token, j.customer_id, j.package_size,
           j.priority_level, j.payload,
           case when d.outcome = 'not_due'
                then ceil(extract(epoch from d.due_at - now()))::integer end
      from unnest(ids, outcomes, due_at) with ordinality as d(id, outcome, due_at, o)
      left join public.jobs j on j.id = d.id and d.outcome = 'claimed'
     order by d.o;
end;
$$;
comment on function public.claim_jobs(uuid[], text) is
  'Gives worker_id a new lease on each pending, due job of job_ids, or says why not: one job_lease row per id, in order.';

-- The single-job form is the array form with one id: one set of rules.
create or replace function public.claim_job(job_id uuid, worker_id text)
returns public.job_lease
language sql
security definer
set search_path = ''
as $$
  select c.outcome, c.job_id, c.attempt, c.lease, c.customer_id, c.package_size,
         c.priority_level, c.payload, c.retry_in_seconds
    from public.claim_jobs(array[claim_job.job_id], claim_job.worker_id) c;
$$;

create function public.heartbeat_jobs(
  worker_id text,
  job_ids uuid[],
  leases uuid[],
  -- Per job, its latest progress (a JSON object) or null to keep what is stored.
  progress jsonb[] default null
) returns table (job_id uuid, holds boolean)
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
  )
  select x.id, x.id in (select beat.id from beat)
    from unnest(coalesce(job_ids, '{}'::uuid[])) with ordinality as x(id, o)
   order by x.o;
end;
$$;
comment on function public.heartbeat_jobs(text, uuid[], uuid[], jsonb[]) is
  'Records that worker_id is alive and, per job, whether its lease still holds (false: stop working); stores progress given.';

create function public.complete_jobs(job_ids uuid[], leases uuid[], results jsonb[] default null)
returns table (job_id uuid, done boolean)
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

  -- true: completed now, or already by this lease (a retried call); false: the lease was lost.
  return query
    select d.id, d.holds and d.status in ('in_progress', 'completed')
      from unnest(ids, holds, statuses) with ordinality as d(id, holds, status, o)
     order by d.o;
end;
$$;
comment on function public.complete_jobs(uuid[], uuid[], jsonb[]) is
  'Marks each job completed if its lease is the current one: one row per job, in order; false when the lease was lost.';

-- The single-job form is the array form with one job: one set of rules.
create or replace function public.complete_job(job_id uuid, lease uuid, result jsonb default null)
returns boolean
language sql
security definer
set search_path = ''
as $$
  select c.done
    from public.complete_jobs(array[complete_job.job_id], array[complete_job.lease],
                              array[complete_job.result]) c;
$$;

revoke execute on function
  public.claim_jobs(uuid[], text),
  public.heartbeat_jobs(text, uuid[], uuid[], jsonb[]),
  public.complete_jobs(uuid[], uuid[], jsonb[])
  from public, anon, authenticated;
grant execute on function
  public.claim_jobs(uuid[], text),
  public.heartbeat_jobs(text, uuid[], uuid[], jsonb[]),
  public.complete_jobs(uuid[], uuid[], jsonb[])
  to service_role;

-- Every job each worker holds, derived from the leases (the truth), beside its last heartbeat.
create view public.workers_view with (security_invoker = true) as
  select w.worker_id, w.last_heartbeat, now() - w.last_heartbeat as silent_for,
         count(j.id)::integer as jobs_held,
         coalesce(array_agg(j.id order by j.leased_at, j.id) filter (where j.id is not null),
                  '{}'::uuid[]) as job_ids
    from public.worker_heartbeats w
    left join public.jobs j on j.leased_by = w.worker_id and j.status = 'in_progress'
   group by w.worker_id, w.last_heartbeat;
comment on view public.workers_view is
  'Each worker: its last heartbeat and every job it holds in progress (from the leases).';
revoke all on table public.workers_view from anon, authenticated;
grant select on table public.workers_view to service_role;
