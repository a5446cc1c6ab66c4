-- A per-customer cap on jobs in progress (private.settings.max_in_progress_per_customer, off by
-- default), so one customer with a big backlog cannot take every worker. claim_jobs answers
-- `capped` for a job over its customer's cap: the job stays pending and the worker sends its
-- message again with a delay (capped_delay_seconds, spread from half to one and a half times it)
-- before deleting the one it holds, so a job held back spends none of its message's receives
-- (three send it to the DLQ). The spread keeps a big capped backlog from coming back all at once,
-- in waves that other customers' jobs would wait behind.
--
-- Replaces public.claim_jobs from 20261129190000_worker_runtime (the cap; same answers while off).
-- Replaces private.resend_lost_jobs from 20261129210000_dlq_seen_whole: a job capped a moment ago
-- has a message on its way (the worker's delayed copy), so it is not lost however long it waited.

alter table private.settings
  add column max_in_progress_per_customer integer
    check (max_in_progress_per_customer between 1 and 100000),
  add column capped_delay_seconds integer not null default 10
    check (capped_delay_seconds between 1 and 600);
comment on column private.settings.max_in_progress_per_customer is
  'Jobs of one customer in progress at once at most (null: no cap). Workers must handle the capped claim.';
comment on column private.settings.capped_delay_seconds is
  'How long a capped job''s message is delayed when the worker sends it again, on average: each delay is spread from half to 1.5 times it (SQS allows at most 900 s).';

alter table public.jobs add column capped_at timestamptz;
comment on column public.jobs.capped_at is
  'When a claim last found the job''s customer at its cap (its message was then sent again, delayed).';

-- The cap counts a customer's jobs in progress: a small index, only in-progress rows.
create index jobs_in_progress_customer_idx on public.jobs (customer_id)
  where status = 'in_progress';

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
  cap integer;
  cap_delay integer;
  lock_key bigint;
  capped_ords bigint[];
  o bigint;
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

  -- The per-customer cap (off while null): a job whose customer already has that many jobs in
  -- progress, counting the ones this call claims before it, is capped instead. It stays pending
  -- and the worker sends its message again after capped_delay_seconds, so waiting for room costs
  -- the job no receive. Claims of one customer's jobs take turns (a transaction lock per
  -- customer, taken in one order by every claim), so two claims cannot both see the last slot.
  select s.max_in_progress_per_customer, s.capped_delay_seconds into cap, cap_delay
    from private.settings s;
  if cap is not null and 'claimed' = any (outcomes) then
    for lock_key in
      select distinct hashtextextended('claim_jobs:' || j.customer_id, 0)
        from unnest(ids, outcomes) as d(id, outcome) join public.jobs j on j.id = d.id
       where d.outcome = 'claimed'
       order by 1
    loop
      perform pg_advisory_xact_lock(lock_key);
    end loop;
    select coalesce(array_agg(r.o), '{}'::bigint[]) into capped_ords
      from (select d.o,
                   row_number() over (partition by j.customer_id order by d.o) as nth,
                   (select count(*) from public.jobs p
                     where p.customer_id = j.customer_id and p.status = 'in_progress') as busy
              from unnest(ids, outcomes) with ordinality as d(id, outcome, o)
              join public.jobs j on j.id = d.id
             where d.outcome = 'claimed') r
     where r.busy + r.nth > cap;
    foreach o in array capped_ords loop
      outcomes[o] := 'capped';
    end loop;
    -- Seen a moment ago, if still pending: the lost-message sweep leaves it alone.
    update public.jobs j set capped_at = now()
      from unnest(ids) with ordinality as x(id, n)
     where x.n = any (capped_ords) and j.id = x.id;
  end if;

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
                then ceil(extract(epoch from d.due_at - now()))::integer
                -- Spread, so a capped backlog trickles back rather than in waves.
                when d.outcome = 'capped' then ceil(cap_delay * (0.5 + random()))::integer end
      from unnest(ids, outcomes, due_at) with ordinality as d(id, outcome, due_at, o)
      left join public.jobs j on j.id = d.id and d.outcome = 'claimed'
     order by d.o;
end;
$$;
comment on function public.claim_jobs(uuid[], text) is
  'Gives worker_id a new lease on each pending, due job of job_ids, or says why not: one job_lease row per id, in order. capped: the customer is at max_in_progress_per_customer; send the message again after retry_in_seconds.';


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
       -- A capped job's message was sent again by the worker, not through the outbox.
       and (j.capped_at is null or j.capped_at < cutoff)
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
