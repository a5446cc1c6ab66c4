-- Fast and bulk enqueue: one call enqueues 1 to 500 jobs in one transaction, charges them to the
-- customer's jobs policy (private.rate_limit with a cost) and answers with every job in order;
-- an Idempotency-Key on a bulk request covers the whole batch (private.enqueue_batches). Outbox
-- rows may be reserved for a few seconds for the function instance that sends them right after
-- its answer; the scheduled dispatch sends whatever a crashed instance left behind.
--
-- Replaces public.enqueue_job from 20261122160000_job_pipeline: it is now private.enqueue_jobs
-- with one item, so single and bulk enqueues share one body (same answers as before).

-- A bulk request's Idempotency-Key: replaying it returns the same jobs, in the same order.
create table private.enqueue_batches (
  customer_id text not null check (length(customer_id) between 1 and 128),
  idempotency_key text not null check (length(idempotency_key) between 1 and 255),
  -- SHA-256 of the items as jsonb text (key order normalised): a replay must carry the same items.
  request_hash bytea not null,
  job_ids uuid[] not null,
  created_at timestamptz not null default now(),
  primary key (customer_id, idempotency_key)
);
comment on table private.enqueue_batches is
  'Bulk enqueues sent with an Idempotency-Key: the jobs they created, in order, for replays.';
alter table private.enqueue_batches enable row level security;

create function private.enqueue_jobs(
  customer_id text,
  -- [{package_size, priority_level, payload?, idempotency_key?}, ...], checked by the caller.
  items jsonb,
  -- A bulk request's Idempotency-Key (null: none, or a single job's key inside items).
  batch_key text default null,
  -- The customer's jobs policy, charged one unit per new job (null key: not charged).
  limit_key bytea default null,
  limit_count integer default null,
  limit_period_ms integer default null,
  -- Seconds the new outbox rows are left to the caller before the scheduled dispatch sends them.
  reserve_seconds integer default 0
) returns table (
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
as $$
#variable_conflict use_column
declare
  total integer := jsonb_array_length(items);
  request_hash bytea;
  batch private.enqueue_batches;
  existing_items integer[];
  existing_ids uuid[];
  conflict_at integer;
  fresh integer;
  allowed boolean;
  remaining integer;
  reset_ms integer;
  retry_after_ms integer;
  answer_items integer[];
  answer_ids uuid[];
  answer_outbox bigint[];
begin
  -- 1. A bulk request's key seen before: the same items are a replay, other items a conflict.
  --    (A concurrent first request holding the key makes this insert wait for its outcome.)
  if batch_key is not null then
    request_hash := extensions.digest(items::text, 'sha256');
    insert into private.enqueue_batches (customer_id, idempotency_key, request_hash, job_ids)
    values (enqueue_jobs.customer_id, batch_key, request_hash, '{}')
    on conflict do nothing;
    if not found then
      select * into batch from private.enqueue_batches b
       where b.customer_id = enqueue_jobs.customer_id and b.idempotency_key = batch_key;
      if batch.request_hash <> request_hash then
        return query select null::integer, 'conflict', null::uuid, null::text, null::integer,
          null::timestamptz, null::bigint, null::integer, null::integer, null::integer;
        return;
      end if;
      return query
        select (t.o - 1)::integer, 'existing', j.id, j.status, j.attempts, j.created_at,
               null::bigint, null::integer, null::integer, null::integer
          from unnest(batch.job_ids) with ordinality as t(id, o)
          join public.jobs j on j.id = t.id
         order by t.o;
      return;
    end if;
  end if;

  -- 2. Items whose own key was used before: the same job is returned; other fields conflict.
  select coalesce(array_agg((e.o - 1)::integer order by e.o), '{}'),
         coalesce(array_agg(j.id order by e.o), '{}'),
         min((e.o - 1)::integer) filter (
           where j.package_size <> (e.v->>'package_size')::integer
              or j.priority_level <> (e.v->>'priority_level')::integer
              or j.payload <> coalesce(e.v->'payload', '{}'::jsonb))
    into existing_items, existing_ids, conflict_at
    from jsonb_array_elements(items) with ordinality as e(v, o)
    join public.jobs j on j.customer_id = enqueue_jobs.customer_id
                      and j.idempotency_key = e.v->>'idempotency_key'
   where e.v ? 'idempotency_key';
  if conflict_at is not null then
    delete from private.enqueue_batches b
     where b.customer_id = enqueue_jobs.customer_id and b.idempotency_key = batch_key;
    return query select conflict_at, 'conflict', j.id, j.status, j.attempts, j.created_at,
      null::bigint, null::integer, null::integer, null::integer
      from public.jobs j where j.id = existing_ids[array_position(existing_items, conflict_at)];
    return;
  end if;

  -- 3. Charge the new jobs to the customer's jobs policy; replays cost nothing.
  fresh := total - cardinality(existing_items);
  if fresh > 0 and limit_key is not null then
    select r.allowed, r.remaining, r.reset_ms, r.retry_after_ms
      into allowed, remaining, reset_ms, retry_after_ms
      from private.rate_limit(array[1], array[limit_key], array[limit_count],
                              array[limit_period_ms], array[fresh]) r;
    if not allowed then
      delete from private.enqueue_batches b
       where b.customer_id = enqueue_jobs.customer_id and b.idempotency_key = batch_key;
      return query select null::integer, 'rate_limited', null::uuid, null::text, null::integer,
        null::timestamptz, null::bigint, remaining, reset_ms, retry_after_ms;
      return;
    end if;
  end if;

  -- 4. The new jobs, their outbox rows and their history, in one statement.
  with input as materialized (
    select (e.o - 1)::integer as item, gen_random_uuid() as id, e.v
      from jsonb_array_elements(items) with ordinality as e(v, o)
     where (e.o - 1)::integer <> all (existing_items)
  ), inserted as (
    insert into public.jobs (id, customer_id, package_size, priority_level, payload,
                             idempotency_key)
    select i.id, enqueue_jobs.customer_id, (i.v->>'package_size')::integer,
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
    select i.item, i.id, q.id as outbox_id from input i join queued q on q.job_id = i.id
    union all
    select t.item, t.id, null::bigint from unnest(existing_items, existing_ids) as t(item, id)
  )
  select array_agg(a.item order by a.item), array_agg(a.id order by a.item),
         array_agg(a.outbox_id order by a.item)
    into answer_items, answer_ids, answer_outbox
    from answer a;

  -- 5. An item key taken by a concurrent enqueue after step 2: nothing of this call may stay.
  if coalesce(cardinality(answer_items), 0) < total then
    raise exception 'an idempotency key was used by a concurrent enqueue'
      using errcode = '40001', hint = 'Retry: the replay then returns the job that won.';
  end if;
  if batch_key is not null then
    update private.enqueue_batches b set job_ids = answer_ids
     where b.customer_id = enqueue_jobs.customer_id and b.idempotency_key = batch_key;
  end if;

  return query
    select t.item, case when t.outbox_id is null then 'existing' else 'created' end, j.id,
           j.status, j.attempts, j.created_at, t.outbox_id,
           remaining, reset_ms, retry_after_ms
      from unnest(answer_items, answer_ids, answer_outbox) as t(item, id, outbox_id)
      join public.jobs j on j.id = t.id
     order by t.item;
end;
$$;
comment on function private.enqueue_jobs(text, jsonb, text, bytea, integer, integer, integer) is
  'Enqueues items (1..n jobs) in one transaction, all or nothing, charging new jobs to the jobs policy; one row per item, in order, or one conflict / rate_limited row.';

-- The contract function keeps its signature and answers; its body is now enqueue_jobs's.
create or replace function public.enqueue_job(
  customer_id text,
  package_size integer,
  priority_level integer default 0,
  payload jsonb default '{}'::jsonb,
  idempotency_key text default null
) returns public.enqueued_job
language sql
security definer
set search_path = ''
as $$
  select (e.outcome, e.job_id, e.status, e.attempts, e.created_at, e.outbox_id)::public.enqueued_job
    from private.enqueue_jobs(
      enqueue_job.customer_id,
      jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
        'package_size', enqueue_job.package_size,
        'priority_level', enqueue_job.priority_level,
        'payload', coalesce(enqueue_job.payload, '{}'::jsonb),
        'idempotency_key', enqueue_job.idempotency_key)))) e;
$$;
comment on function public.enqueue_job(text, integer, integer, jsonb, text) is
  'Creates a pending job and its outbox row in one transaction; idempotent per (customer, key).';

revoke all on function private.enqueue_jobs(text, jsonb, text, bytea, integer, integer, integer)
  from public;
