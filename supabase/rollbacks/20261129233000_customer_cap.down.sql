-- Rolls back 20261129233000_customer_cap.sql: no cap on a customer's jobs in progress. Turn the
-- cap off first (update private.settings set max_in_progress_per_customer = null) and let the
-- capped messages come back; workers of this release keep working.
drop index public.jobs_in_progress_customer_idx;
alter table public.jobs drop column capped_at;
alter table private.settings
  drop column max_in_progress_per_customer,
  drop column capped_delay_seconds;

-- public.claim_jobs as 20261129190000_worker_runtime left it.
create or replace function public.claim_jobs(job_ids uuid[], worker_id text)
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


-- private.resend_lost_jobs as 20261129210000_dlq_seen_whole left it.
create or replace function private.resend_lost_jobs(max_jobs integer default 1000)
returns integer
language plpgsql
set search_path = ''
as $$
declare
  cutoff timestamptz;
  resent integer;
begin
  select now() - make_interval(secs => s.lost_message_after_seconds) into cutoff
    from private.settings s;
  with lost as (
    select j.id, j.attempts, j.run_after
      from public.jobs j
     where j.status = 'pending'
       -- With no live worker nothing is being received: a long wait proves nothing then.
       and exists (select 1 from public.worker_heartbeats w
                    where w.last_heartbeat > private.stale_before())
       and j.run_after < cutoff
       and coalesce(j.leased_at, j.created_at) < cutoff
       and not exists (select 1 from private.outbox o
                        where o.job_id = j.id
                          and (o.delivered_at is null or o.delivered_at >= cutoff))
       and not exists (select 1 from private.dead_letters d
                        where d.job_id = j.id
                          and d.message_id = (select o.message_id from private.outbox o
                                               where o.job_id = j.id order by o.id desc limit 1))
     order by j.run_after
     limit greatest(max_jobs, 0)
       for update of j skip locked
  ), sent as (
    insert into private.outbox (job_id) select l.id from lost l returning job_id
  ), history as (
    insert into public.queue_history (job_id, event, attempt, reason)
    select l.id, 'resent', l.attempts,
           'message lost: due since ' || to_char(l.run_after at time zone 'UTC',
                                                 'YYYY-MM-DD HH24:MI:SS') || ' UTC, never delivered since'
      from lost l
  )
  select count(*)::integer into resent from sent;
  if resent > 0 then
    perform private.request_dispatch();
  end if;
  return resent;
end;
$$;
