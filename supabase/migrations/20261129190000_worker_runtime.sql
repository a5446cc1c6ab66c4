-- Worker runtime: a worker holds many jobs at once, so the contract gains array forms that do
-- for all of them in one round trip what the single-job forms do for one (claim_jobs,
-- heartbeat_jobs, complete_jobs); the single-job forms stay for workers in other languages.
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
declare
  one uuid;
begin
  -- One claim_job per id, in the order given: the same answers, one round trip.
  foreach one in array coalesce(job_ids, '{}'::uuid[]) loop
    return next public.claim_job(one, claim_jobs.worker_id);
  end loop;
  return;
end;
$$;
comment on function public.claim_jobs(uuid[], text) is
  'claim_job for each id, in order: one job_lease row per id.';

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
  with beat as (
    update public.jobs j
       set heartbeat_at = now(),
           progress = case when jsonb_typeof(b.progress) = 'object' then b.progress
                           else j.progress end
      from unnest(coalesce(job_ids, '{}'::uuid[]), coalesce(leases, '{}'::uuid[]),
                  coalesce(heartbeat_jobs.progress, array_fill(null::jsonb, array[n])))
           as b(id, lease, progress)
     where j.id = b.id and j.status = 'in_progress' and j.lease_token = b.lease
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
  i integer;
begin
  if coalesce(cardinality(leases), 0) <> coalesce(cardinality(job_ids), 0)
     or (results is not null and cardinality(results) <> cardinality(job_ids)) then
    raise exception 'complete_jobs: job_ids, leases and results must have the same length'
      using errcode = '22023';
  end if;
  -- In id order, so two calls that share a job lock rows in one order and cannot deadlock.
  for i in select x.o from unnest(job_ids) with ordinality as x(id, o) order by x.id, x.o loop
    job_id := job_ids[i];
    done := public.complete_job(job_ids[i], leases[i], results[i]);
    return next;
  end loop;
  return;
end;
$$;
comment on function public.complete_jobs(uuid[], uuid[], jsonb[]) is
  'complete_job for each (id, lease, result): one row per job, true when completed under that lease.';

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
         coalesce(array_agg(j.id order by j.leased_at) filter (where j.id is not null),
                  '{}'::uuid[]) as job_ids
    from public.worker_heartbeats w
    left join public.jobs j on j.leased_by = w.worker_id and j.status = 'in_progress'
   group by w.worker_id, w.last_heartbeat;
comment on view public.workers_view is
  'Each worker: its last heartbeat and every job it holds in progress (from the leases).';
revoke all on table public.workers_view from anon, authenticated;
grant select on table public.workers_view to service_role;
