-- Rolls back 20261129230000_priority.sql: priority_level is a number again, required by the API,
-- and every job goes to the one queue, jobs. Roll the functions back first (they read the new
-- columns of enqueue_requests and take_outbox), and stop the workers once jobs-high and jobs-low
-- are empty.
drop function private.enqueue_requests(jsonb, integer);
drop function private.take_outbox(integer, bigint[]);
drop index public.jobs_pending_lane_idx;
create index jobs_pending_order_idx on public.jobs (priority_level desc, created_at)
  where status = 'pending';
alter table public.jobs drop column lane;
drop table private.priority_lanes;
alter table public.jobs drop column priority_tier;
alter table private.settings drop column default_priority_tier;
drop table private.priority_tiers;

-- private.take_outbox as 20261122160000_job_pipeline left it.
create function private.take_outbox(batch_size integer, only_ids bigint[] default null)
returns table (outbox_id bigint, job_id uuid, customer_id text, tries integer)
language sql
set search_path = ''
as $$
  select o.id, o.job_id, j.customer_id, o.tries
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
  'Locks up to batch_size due outbox rows for the calling transaction (skip locked).';
revoke all on function private.take_outbox(integer, bigint[]) from public;

-- private.enqueue_requests and public.enqueue_job as 20261129170000_fast_enqueue left them.
create function private.enqueue_requests(
  -- [{customer_id, items: [{package_size, priority_level, payload?, idempotency_key?}, ...],
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
  limit_retry_after_ms integer
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
begin
  for r in 1 .. n loop
    req := requests -> (r - 1);
    fresh[r] := jsonb_array_length(req->'items');
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
            null::integer;
        else
          return query
            select r - 1, (t.o - 1)::integer, 'existing', j.id, j.status, j.attempts,
                   j.created_at, null::bigint, null::integer, null::integer, null::integer
              from unnest(batch.job_ids) with ordinality as t(id, o)
              join public.jobs j on j.id = t.id;
        end if;
        continue;
      end if;
    end if;

    claimed[r] := req->>'batch_key' is not null;

    -- 2. Items whose own key was used before: that job is returned; other fields conflict.
    if jsonb_path_exists(req->'items', '$[*].idempotency_key') then
      select min((e.o - 1)::integer) filter (
               where j.package_size <> (e.v->>'package_size')::integer
                  or j.priority_level <> (e.v->>'priority_level')::integer
                  or j.payload <> coalesce(e.v->'payload', '{}'::jsonb)),
             coalesce(array_agg((e.o - 1)::integer order by e.o), '{}'),
             coalesce(array_agg(j.id order by e.o), '{}')
        into conflict_at, seen_item, seen_id
        from jsonb_array_elements(req->'items') with ordinality as e(v, o)
        join public.jobs j on j.customer_id = req->>'customer_id'
                          and j.idempotency_key = e.v->>'idempotency_key';
      if conflict_at is not null then
        answered[r] := true;
        return query
          select r - 1, conflict_at, 'conflict', j.id, j.status, j.attempts, j.created_at,
                 null::bigint, null::integer, null::integer, null::integer
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
        retry_after_ms[r];
    end loop;
  end if;

  -- A request answered with a conflict or a refusal keeps no batch key of this call.
  delete from private.enqueue_batches b
   using generate_series(1, n) as x(r)
   where answered[x.r] and claimed[x.r]
     and b.customer_id = requests->(x.r - 1)->>'customer_id'
     and b.idempotency_key = requests->(x.r - 1)->>'batch_key';

  -- 4. The new jobs, their outbox rows and their history, in one statement.
  with input as materialized (
    select q.o::integer as request, (e.o - 1)::integer as item, gen_random_uuid() as id,
           q.v->>'customer_id' as customer_id, e.v
      from jsonb_array_elements(requests) with ordinality as q(v, o)
     cross join lateral jsonb_array_elements(q.v->'items') with ordinality as e(v, o)
     where not answered[q.o::integer]
       and not exists (select 1 from unnest(old_request, old_item) as x(r, i)
                        where x.r = q.o and x.i = e.o - 1)
  ), inserted as (
    insert into public.jobs (id, customer_id, package_size, priority_level, payload,
                             idempotency_key)
    select i.id, i.customer_id, (i.v->>'package_size')::integer,
           (i.v->>'priority_level')::integer, coalesce(i.v->'payload', '{}'::jsonb),
           i.v->>'idempotency_key'
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
           remaining[l.o], reset_ms[l.o], retry_after_ms[l.o]
      from unnest(new_request, new_item, new_id, new_outbox) with ordinality
           as x(r, i, id, outbox_id, n)
      join public.jobs j on j.id = x.id
      left join unnest(limited) with ordinality as l(r, o) on l.r = x.r
     order by x.n;
end;
$$;
comment on function private.enqueue_requests(jsonb, integer) is
  'Enqueues many requests (1..n jobs each) in one transaction, each all or nothing and charged to its customer''s jobs policy; rows per item in order, or one conflict / rate_limited row per request.';

revoke all on function private.enqueue_requests(jsonb, integer) from public;

create or replace function public.enqueue_job(
  customer_id text,
  package_size integer,
  priority_level integer default 0,
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
        'priority_level', enqueue_job.priority_level,
        'payload', coalesce(enqueue_job.payload, '{}'::jsonb))
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

