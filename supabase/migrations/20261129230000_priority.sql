-- Priority that is honoured.
-- Tiers: priority_level takes a tier name (the old system's `starter` and up) as well as a number
-- from 0 to 10. The names and their numbers live in private.priority_tiers, changed with plain
-- SQL; a job without priority_level gets the default tier (`starter`, as the old requeue code
-- did). Jobs keep the number and the tier; enqueue_requests resolves names in the same call and
-- refuses an unknown one with the tiers there are.
-- Lanes: bands of numbers (private.priority_lanes) map to SQS queues, `high` (jobs-high),
-- `default` (jobs) and `low` (jobs-low), all dead-lettering to jobs-dlq. A job's lane is decided
-- when it is enqueued and kept on the job (jobs.lane), so every later send (dispatch, stale
-- recovery, redrive, the lost-message sweep, all through the outbox) goes back to the same lane.
--
-- Replaces private.enqueue_requests from 20261129170000_fast_enqueue (dropped and created again:
-- it answers four more columns). Replaces public.enqueue_job from 20261129170000_fast_enqueue:
-- priority_level defaults to null, the default tier. Replaces private.take_outbox from
-- 20261122160000_job_pipeline (dropped and created again: it answers each row's lane).

create table private.priority_tiers (
  name text primary key check (name ~ '^[a-z][a-z0-9_-]{0,31}$'),
  priority_level smallint not null check (priority_level between 0 and 10),
  description text
);
comment on table private.priority_tiers is
  'Tier names a job''s priority_level may give, and the number each stands for. Defaults to adapt: insert, update or delete rows.';
alter table private.priority_tiers enable row level security;
insert into private.priority_tiers (name, priority_level, description) values
  ('starter', 3, 'The lowest paid tier; jobs without priority_level get it.'),
  ('pro', 5, null),
  ('business', 7, null),
  ('enterprise', 9, null);

alter table private.settings
  add column default_priority_tier text not null default 'starter'
    references private.priority_tiers (name) on update cascade;
comment on column private.settings.default_priority_tier is
  'The tier of a job enqueued without priority_level (it cannot be deleted while it is the default).';

alter table public.jobs
  add column priority_tier text check (length(priority_tier) between 1 and 32);
comment on column public.jobs.priority_tier is
  'The tier priority_level came from, as enqueued (null: the job was given a number).';

-- The lanes are the SQS queues infra/sqs.yaml and the local stack create: a name outside these
-- would have no queue.
create table private.priority_lanes (
  name text primary key check (name in ('high', 'default', 'low')),
  -- The band is min_level up to the next lane's min_level; a number below every band is default.
  min_level smallint not null unique check (min_level between 0 and 10)
);
comment on table private.priority_lanes is
  'Priority bands and the lane (SQS queue) each goes to: high = jobs-high, default = jobs, low = jobs-low. Change the bands with plain SQL; they apply to jobs enqueued afterwards.';
alter table private.priority_lanes enable row level security;
insert into private.priority_lanes (name, min_level) values ('high', 7), ('default', 2), ('low', 0);

alter table public.jobs
  add column lane text not null default 'default' check (lane in ('high', 'default', 'low'));
comment on column public.jobs.lane is
  'The SQS lane the job''s messages go to, decided from priority_level when it was enqueued.';
-- Pending jobs of a lane in enqueue order: GET /queue counts positions along it.
drop index public.jobs_pending_order_idx;
create index jobs_pending_lane_idx on public.jobs (lane, created_at) where status = 'pending';

drop function private.enqueue_requests(jsonb, integer);
create function private.enqueue_requests(
  -- [{customer_id, items: [{package_size, priority_level?, payload?, idempotency_key?}, ...],
  --   batch_key?, limit_key? (hex), limit_count?, limit_period_ms?}, ...], checked by the caller.
  -- No two requests of one call may share a (customer, key): the caller groups them apart.
  requests jsonb,
  -- Seconds the new outbox rows are left to the caller before the scheduled dispatch sends them.
  reserve_seconds integer default 0
) returns table (
  request integer,
  item integer,
  outcome text,
  job_id uuid,
  status text,
  attempts integer,
  created_at timestamptz,
  outbox_id bigint,
  limit_remaining integer,
  limit_reset_ms integer,
  limit_retry_after_ms integer,
  -- The job's priority as stored: the number, and the tier it came from (null: a number).
  priority_level smallint,
  priority_tier text,
  lane text,
  -- unknown_tier only: the tiers there are, lowest first.
  known_tiers text[]
)
language plpgsql
set search_path = ''
-- Its statements are planned once per connection, not at every call: a custom plan for the
-- insert statement cost more than running it (measured: 1.2 ms a call falling to 0.8 ms).
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
  n integer := jsonb_array_length(requests);
  req jsonb;
  batch private.enqueue_batches;
  conflict_at integer;
  -- Per request (1-based): answered before the insert, and new jobs to charge.
  answered boolean[] := array_fill(false, array[n]);
  -- Per request: its batch key was claimed (first used) by this call.
  claimed boolean[] := array_fill(false, array[n]);
  fresh integer[] := array_fill(0, array[n]);
  -- Items that are earlier jobs (their own key used before with the same fields).
  old_request integer[] := '{}'::integer[];
  old_item integer[] := '{}'::integer[];
  old_id uuid[] := '{}'::uuid[];
  seen_item integer[];
  seen_id uuid[];
  -- The jobs policy's word per charged request.
  limited integer[];
  allowed boolean[];
  remaining integer[];
  reset_ms integer[];
  retry_after_ms integer[];
  new_request integer[];
  new_item integer[];
  new_id uuid[];
  new_outbox bigint[];
  expected integer;
  -- The tier of an item without priority_level.
  default_tier text;
  unknown_at integer;
begin
  select s.default_priority_tier into default_tier from private.settings s;
  for r in 1 .. n loop
    req := requests -> (r - 1);
    fresh[r] := jsonb_array_length(req->'items');
    -- 0. A tier name private.priority_tiers does not know (in any case): the request is refused
    --    before anything is written, naming its first such item and the tiers there are.
    select (e.o - 1)::integer into unknown_at
      from jsonb_array_elements(req->'items') with ordinality as e(v, o)
     where jsonb_typeof(e.v->'priority_level') = 'string'
       and not exists (select 1 from private.priority_tiers t
                        where t.name = lower(e.v->>'priority_level'))
     order by e.o
     limit 1;
    if unknown_at is not null then
      answered[r] := true;
      return query select r - 1, unknown_at, 'unknown_tier', null::uuid, null::text,
        null::integer, null::timestamptz, null::bigint, null::integer, null::integer,
        null::integer, null::smallint, null::text, null::text,
        array(select t.name from private.priority_tiers t order by t.priority_level, t.name);
      continue;
    end if;
    -- 1. A bulk request's key seen before: the same items are a replay, other items a conflict.
    --    (A concurrent first request holding the key makes this insert wait for its outcome.)
    if req->>'batch_key' is not null then
      insert into private.enqueue_batches (customer_id, idempotency_key, request_hash, job_ids)
      values (req->>'customer_id', req->>'batch_key',
              extensions.digest((req->'items')::text, 'sha256'), '{}')
      on conflict do nothing;
      if not found then
        answered[r] := true;
        select * into batch from private.enqueue_batches b
         where b.customer_id = req->>'customer_id' and b.idempotency_key = req->>'batch_key';
        -- Other items, or jobs of the batch deleted since (it can no longer be replayed whole).
        if batch.request_hash <> extensions.digest((req->'items')::text, 'sha256')
           or (select count(*) from public.jobs j where j.id = any (batch.job_ids))
              <> cardinality(batch.job_ids) then
          return query select r - 1, null::integer, 'conflict', null::uuid, null::text,
            null::integer, null::timestamptz, null::bigint, null::integer, null::integer,
            null::integer, null::smallint, null::text, null::text, null::text[];
        else
          return query
            select r - 1, (t.o - 1)::integer, 'existing', j.id, j.status, j.attempts,
                   j.created_at, null::bigint, null::integer, null::integer, null::integer,
                   j.priority_level, j.priority_tier, j.lane, null::text[]
              from unnest(batch.job_ids) with ordinality as t(id, o)
              join public.jobs j on j.id = t.id;
        end if;
        continue;
      end if;
    end if;

    claimed[r] := req->>'batch_key' is not null;

    -- 2. Items whose own key was used before: that job is returned; other fields conflict. A
    --    tier is compared by name (its number may have changed since), a number by number; an
    --    item without priority_level matches the job's, whatever the default tier is now.
    if jsonb_path_exists(req->'items', '$[*].idempotency_key') then
      select min((e.o - 1)::integer) filter (
               where j.package_size <> (e.v->>'package_size')::integer
                  or (e.v ? 'priority_level'
                      and (j.priority_tier is distinct from p.tier
                           or (p.tier is null
                               and j.priority_level <> (e.v->>'priority_level')::integer)))
                  or j.payload <> coalesce(e.v->'payload', '{}'::jsonb)),
             coalesce(array_agg((e.o - 1)::integer order by e.o), '{}'),
             coalesce(array_agg(j.id order by e.o), '{}')
        into conflict_at, seen_item, seen_id
        from jsonb_array_elements(req->'items') with ordinality as e(v, o)
       cross join lateral (select case when jsonb_typeof(e.v->'priority_level') = 'number' then null
                                       else lower(coalesce(e.v->>'priority_level', default_tier))
                                  end as tier) p
        join public.jobs j on j.customer_id = req->>'customer_id'
                          and j.idempotency_key = e.v->>'idempotency_key';
      if conflict_at is not null then
        answered[r] := true;
        return query
          select r - 1, conflict_at, 'conflict', j.id, j.status, j.attempts, j.created_at,
                 null::bigint, null::integer, null::integer, null::integer, null::smallint,
                 null::text, null::text, null::text[]
            from public.jobs j
           where j.id = seen_id[array_position(seen_item, conflict_at)];
        continue;
      end if;
      old_request := old_request || array_fill(r, array[cardinality(seen_item)]);
      old_item := old_item || seen_item;
      old_id := old_id || seen_id;
      fresh[r] := fresh[r] - cardinality(seen_item);
    end if;
  end loop;

  -- 3. Charge new jobs to their customer's jobs policy, every request in one call, in order;
  --    replays cost nothing. A refused request writes nothing.
  select array_agg(x.r order by x.r) into limited
    from generate_series(1, n) as x(r)
   where not answered[x.r] and fresh[x.r] > 0 and requests->(x.r - 1)->>'limit_key' is not null;
  if limited is not null then
    select array_agg(d.allowed order by d.request), array_agg(d.remaining order by d.request),
           array_agg(d.reset_ms order by d.request), array_agg(d.retry_after_ms order by d.request)
      into allowed, remaining, reset_ms, retry_after_ms
      from private.rate_limit(
        limited,
        array(select decode(requests->(l - 1)->>'limit_key', 'hex') from unnest(limited) l),
        array(select (requests->(l - 1)->>'limit_count')::integer from unnest(limited) l),
        array(select (requests->(l - 1)->>'limit_period_ms')::integer from unnest(limited) l),
        array(select fresh[l] from unnest(limited) l)) d;
    for r in 1 .. cardinality(limited) loop
      continue when allowed[r];
      answered[limited[r]] := true;
      return query select limited[r] - 1, null::integer, 'rate_limited', null::uuid, null::text,
        null::integer, null::timestamptz, null::bigint, remaining[r], reset_ms[r],
        retry_after_ms[r], null::smallint, null::text, null::text, null::text[];
    end loop;
  end if;

  -- A request answered with a conflict or a refusal keeps no batch key of this call.
  delete from private.enqueue_batches b
   using generate_series(1, n) as x(r)
   where answered[x.r] and claimed[x.r]
     and b.customer_id = requests->(x.r - 1)->>'customer_id'
     and b.idempotency_key = requests->(x.r - 1)->>'batch_key';

  -- 4. The new jobs, their outbox rows and their history, in one statement. An item names a
  --    tier, a number (no tier), or nothing (the default tier); its number decides its lane.
  with input as materialized (
    select q.o::integer as request, (e.o - 1)::integer as item, gen_random_uuid() as id,
           q.v->>'customer_id' as customer_id, e.v, p.tier, lv.level,
           coalesce(ln.name, 'default') as lane
      from jsonb_array_elements(requests) with ordinality as q(v, o)
     cross join lateral jsonb_array_elements(q.v->'items') with ordinality as e(v, o)
     cross join lateral (select case when jsonb_typeof(e.v->'priority_level') = 'number' then null
                                     else lower(coalesce(e.v->>'priority_level', default_tier))
                                end as tier) p
      left join private.priority_tiers t on t.name = p.tier
     cross join lateral (select case when p.tier is null then (e.v->>'priority_level')::smallint
                                     else t.priority_level end as level) lv
      left join lateral (select l.name from private.priority_lanes l
                          where l.min_level <= lv.level
                          order by l.min_level desc limit 1) ln on true
     where not answered[q.o::integer]
       and not exists (select 1 from unnest(old_request, old_item) as x(r, i)
                        where x.r = q.o and x.i = e.o - 1)
  ), inserted as (
    insert into public.jobs (id, customer_id, package_size, priority_level, priority_tier, lane,
                             payload, idempotency_key)
    select i.id, i.customer_id, (i.v->>'package_size')::integer, i.level, i.tier, i.lane,
           coalesce(i.v->'payload', '{}'::jsonb), i.v->>'idempotency_key'
      from input i
    on conflict (customer_id, idempotency_key) where idempotency_key is not null do nothing
    returning id
  ), queued as (
    insert into private.outbox (job_id, available_at)
    select n.id, now() + make_interval(secs => reserve_seconds) from inserted n
    returning id, job_id
  ), logged as (
    insert into public.queue_history (job_id, event, attempt)
    select n.id, 'enqueued', 0 from inserted n
  ), answer as (
    select i.request, i.item, i.id, q.id as outbox_id from input i join queued q on q.job_id = i.id
    union all
    select x.r, x.i, x.id, null::bigint from unnest(old_request, old_item, old_id) as x(r, i, id)
     where not answered[x.r]
  )
  select coalesce(array_agg(a.request order by a.request, a.item), '{}'),
         coalesce(array_agg(a.item order by a.request, a.item), '{}'),
         coalesce(array_agg(a.id order by a.request, a.item), '{}'),
         coalesce(array_agg(a.outbox_id order by a.request, a.item), '{}')
    into new_request, new_item, new_id, new_outbox
    from answer a;

  -- 5. An item key taken by a concurrent enqueue after step 2: nothing of this call may stay.
  select coalesce(sum(jsonb_array_length(requests->(x.r - 1)->'items')), 0) into expected
    from generate_series(1, n) as x(r) where not answered[x.r];
  if cardinality(new_request) < expected then
    raise exception 'an idempotency key was used by a concurrent enqueue'
      using errcode = '40001', hint = 'Retry: the replay then returns the job that won.';
  end if;
  update private.enqueue_batches b set job_ids = a.ids
    from (select x.r, array_agg(x.id order by x.i) as ids
            from unnest(new_request, new_item, new_id) as x(r, i, id) group by x.r) a
   where b.customer_id = requests->(a.r - 1)->>'customer_id'
     and b.idempotency_key = requests->(a.r - 1)->>'batch_key';

  return query
    select x.r - 1, x.i, case when x.outbox_id is null then 'existing' else 'created' end,
           j.id, j.status, j.attempts, j.created_at, x.outbox_id,
           remaining[l.o], reset_ms[l.o], retry_after_ms[l.o], j.priority_level, j.priority_tier,
           j.lane, null::text[]
      from unnest(new_request, new_item, new_id, new_outbox) with ordinality
           as x(r, i, id, outbox_id, n)
      join public.jobs j on j.id = x.id
      left join unnest(limited) with ordinality as l(r, o) on l.r = x.r
     order by x.n;
end;
$$;
comment on function private.enqueue_requests(jsonb, integer) is
  'Enqueues many requests (1..n jobs each) in one transaction, each all or nothing and charged to its customer''s jobs policy; rows per item in order, or one conflict / rate_limited / unknown_tier row per request.';

revoke all on function private.enqueue_requests(jsonb, integer) from public;

-- The contract function keeps its answers; without a priority_level its job gets the default tier.
create or replace function public.enqueue_job(
  customer_id text,
  package_size integer,
  -- Null: the default tier (private.settings.default_priority_tier).
  priority_level integer default null,
  payload jsonb default '{}'::jsonb,
  idempotency_key text default null
) returns public.enqueued_job
language plpgsql
security definer
set search_path = ''
as $$
declare
  result public.enqueued_job;
  request jsonb := jsonb_build_array(jsonb_build_object(
    'customer_id', enqueue_job.customer_id,
    'items', jsonb_build_array(
      jsonb_build_object(
        'package_size', enqueue_job.package_size,
        'payload', coalesce(enqueue_job.payload, '{}'::jsonb))
      -- Only a number that is set: without one the item gets the default tier.
      || case when enqueue_job.priority_level is null then '{}'::jsonb
              else jsonb_build_object('priority_level', enqueue_job.priority_level) end
      -- Only a key that is set: a null one would read as a key in enqueue_requests.
      || case when enqueue_job.idempotency_key is null then '{}'::jsonb
              else jsonb_build_object('idempotency_key', enqueue_job.idempotency_key) end)));
begin
  for attempt in 1 .. 3 loop
    begin
      select e.outcome, e.job_id, e.status, e.attempts, e.created_at, e.outbox_id
        into result
        from private.enqueue_requests(request) e;
      return result;
    exception when serialization_failure then
      -- A concurrent enqueue took this key first; once it has committed, this is a replay or a
      -- conflict, as before.
      if attempt = 3 then
        raise;
      end if;
    end;
  end loop;
  return result; -- not reached: the third try returns or raises
end;
$$;
comment on function public.enqueue_job(text, integer, integer, jsonb, text) is
  'Creates a pending job and its outbox row in one transaction; idempotent per (customer, key).';


-- Each due row with the lane its job's message goes to.
drop function private.take_outbox(integer, bigint[]);
create function private.take_outbox(batch_size integer, only_ids bigint[] default null)
returns table (outbox_id bigint, job_id uuid, customer_id text, tries integer, lane text)
language sql
set search_path = ''
as $$
  select o.id, o.job_id, j.customer_id, o.tries, j.lane
    from private.outbox o
    join public.jobs j on j.id = o.job_id
   where o.delivered_at is null
     and o.available_at <= now()
     and (only_ids is null or o.id = any (only_ids))
   order by o.available_at, o.id
   limit batch_size
     for update of o skip locked;
$$;
comment on function private.take_outbox(integer, bigint[]) is
  'Locks up to batch_size due outbox rows for the calling transaction (skip locked), each with its job''s lane.';
revoke all on function private.take_outbox(integer, bigint[]) from public;
