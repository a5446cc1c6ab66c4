-- Job pipeline: idempotent enqueue with a transactional outbox, the leased worker contract
-- (claim_job / heartbeat / complete_job / fail_job / release_job), settings, and API keys.
--
-- Worker-facing functions live in public, so hosted workers in any language call them with
-- supabase.rpc(...); only service_role may execute them. Everything else lives in private.
-- Every job state change writes exactly one queue_history row.
--
-- Why the public contract functions are `security definer`: they read and write tables in the
-- private schema (settings, outbox), which no API role can reach (`revoke all on schema private
-- from public`). Running as their owner, they give service_role exactly these operations and no
-- direct access to private; `set search_path = ''` keeps a caller's search path out of them.

create extension if not exists pgcrypto with schema extensions;

-- Settings: one typed row that operators tune with a plain UPDATE.
create table private.settings (
  id boolean primary key default true check (id),
  max_attempts integer not null default 5 check (max_attempts between 1 and 100),
  retry_base_seconds integer not null default 30 check (retry_base_seconds between 1 and 3600),
  -- SQS cannot hide a message for longer than 12 hours.
  retry_max_seconds integer not null default 3600 check (retry_max_seconds between 1 and 43200),
  dispatch_retry_max_seconds integer not null default 300
    check (dispatch_retry_max_seconds between 1 and 3600),
  updated_at timestamptz not null default now()
);
comment on table private.settings is
  'Tunable settings of the job system (one row). Change with: update private.settings set ...';
comment on column private.settings.max_attempts is
  'Claims a job may have; a retryable failure on the last one marks the job failed.';
comment on column private.settings.retry_base_seconds is
  'Delay before the first retry; doubles with each attempt up to retry_max_seconds.';
comment on column private.settings.dispatch_retry_max_seconds is
  'Longest wait before an outbox row that SQS refused is tried again.';
insert into private.settings default values;
alter table private.settings enable row level security;

alter table public.jobs
  add column payload jsonb not null default '{}'::jsonb
    check (jsonb_typeof(payload) = 'object'),
  add column idempotency_key text check (length(idempotency_key) between 1 and 255),
  add column result jsonb,
  add column run_after timestamptz not null default now(),
  add column lease_token uuid,
  add column leased_by text check (length(leased_by) between 1 and 128),
  add column leased_at timestamptz,
  add column heartbeat_at timestamptz,
  add constraint jobs_in_progress_is_leased
    check (status <> 'in_progress'
           or (lease_token is not null and leased_by is not null and leased_at is not null));
comment on column public.jobs.payload is 'What the worker needs to do the job (a JSON object).';
comment on column public.jobs.idempotency_key is
  'Client-chosen key: enqueueing again with it returns this job instead of a new one.';
comment on column public.jobs.run_after is 'A pending job is not claimed before this time (retry backoff).';
comment on column public.jobs.lease_token is
  'The current claim. Heartbeats, completion and failure must present it; a new claim or a recovery replaces it.';
comment on column public.jobs.heartbeat_at is 'Last heartbeat under the current lease (null: none yet).';

-- One job per (customer, idempotency key); the ON CONFLICT target of enqueue_job.
create unique index jobs_customer_idempotency_idx on public.jobs (customer_id, idempotency_key)
  where idempotency_key is not null;
-- Pending jobs in the order they should run: queue positions are counted along it.
create index jobs_pending_order_idx on public.jobs (priority_level desc, created_at)
  where status = 'pending';

-- Revoking a lease is one assignment, `lease_token = null`: the rest of the lease goes with it
-- here, so every place that takes a job back (release, stale recovery, dead-lettering, redrive)
-- clears the same columns and a column added to the lease later is cleared everywhere.
create function private.clear_revoked_lease()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.leased_by := null;
  new.leased_at := null;
  new.heartbeat_at := null;
  return new;
end;
$$;
comment on function private.clear_revoked_lease() is
  'Trigger: a job whose lease_token is set to null loses the whole lease (holder, time, heartbeat).';
create trigger jobs_revoke_lease
  before update of lease_token on public.jobs
  for each row when (old.lease_token is not null and new.lease_token is null)
  execute function private.clear_revoked_lease();

-- A worker's current_job_id names a job it holds in progress. Whatever takes a job out of
-- in_progress (completion, failure, release, stale recovery, dead-lettering, redrive) calls
-- this, set-based, in the same transaction.
create function private.free_workers(job_ids uuid[])
returns void
language sql
set search_path = ''
as $$
  update public.worker_heartbeats set current_job_id = null where current_job_id = any (job_ids);
$$;
comment on function private.free_workers(uuid[]) is
  'Clears worker_heartbeats.current_job_id for jobs that have left in_progress.';

-- Retry backoff, one formula for jobs, outbox rows and Slack alerts: `base` seconds after the
-- first failure, doubling with each one, never more than `cap`.
create function private.backoff_seconds(base integer, cap integer, failures integer)
returns integer
language sql
immutable
set search_path = ''
as $$
  -- The exponent is capped so that many failures cannot overflow before least() applies.
  select least(cap, base * power(2, least(greatest(failures, 1) - 1, 30))::bigint)::integer;
$$;
comment on function private.backoff_seconds(integer, integer, integer) is
  'Seconds to wait after the failures-th failure: base, doubling per failure, at most cap.';

-- The transactional outbox: a row per "send job X to SQS", written in the same transaction as
-- the job, drained by the `dispatch` Edge Function.
create table private.outbox (
  id bigint generated always as identity primary key,
  job_id uuid not null references public.jobs (id) on delete cascade,
  created_at timestamptz not null default now(),
  available_at timestamptz not null default now(),
  delivered_at timestamptz,
  tries integer not null default 0,
  last_error text,
  message_id text
);
comment on table private.outbox is
  'Messages to send to SQS, written with the job in one transaction so none is lost.';
comment on column private.outbox.available_at is 'Not sent before this time (backoff after a failed send).';
-- Exactly the predicate the drain uses.
create index outbox_due_idx on private.outbox (available_at, id) where delivered_at is null;
create index outbox_job_idx on private.outbox (job_id);
alter table private.outbox enable row level security;

-- API keys for the queue API: stored only as SHA-256 hashes (keys are random, so a fast hash
-- is enough); the key itself is shown once, when issued.
create table private.api_keys (
  id uuid primary key default gen_random_uuid(),
  customer_id text not null check (length(customer_id) between 1 and 128),
  key_hash bytea not null unique,
  key_prefix text not null,
  name text not null default '',
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
comment on table private.api_keys is
  'API keys for the queue API, one customer each, stored as SHA-256 hashes.';
comment on column private.api_keys.key_prefix is 'The first characters of the key, to recognise it in lists.';
alter table private.api_keys enable row level security;

-- Result types (single rows, so supabase.rpc() returns an object).
create type public.enqueued_job as (
  outcome text,
  job_id uuid,
  status text,
  attempts integer,
  created_at timestamptz,
  outbox_id bigint
);
comment on type public.enqueued_job is
  'enqueue_job() result. outcome: created | existing (same idempotency key and fields) | conflict (same key, other fields).';

create type public.job_lease as (
  outcome text,
  job_id uuid,
  attempt integer,
  lease uuid,
  customer_id text,
  package_size integer,
  priority_level smallint,
  payload jsonb,
  retry_in_seconds integer
);
comment on type public.job_lease is
  'claim_job() result. outcome: claimed | unknown_job | finished | leased (another live claim) | not_due (retry_in_seconds).';

create type public.job_failure as (
  outcome text,
  attempt integer,
  retry_in_seconds integer
);
comment on type public.job_failure is
  'fail_job() result. outcome: retrying (after retry_in_seconds) | failed | lease_lost.';

create function public.enqueue_job(
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
#variable_conflict use_column
declare
  job public.jobs;
  result public.enqueued_job;
begin
  insert into public.jobs (customer_id, package_size, priority_level, payload, idempotency_key)
  values (enqueue_job.customer_id, enqueue_job.package_size, enqueue_job.priority_level,
          coalesce(enqueue_job.payload, '{}'::jsonb), enqueue_job.idempotency_key)
  on conflict (customer_id, idempotency_key) where idempotency_key is not null do nothing
  returning * into job;

  if job.id is null then
    -- The key was used before: the same request is replayed, a different one is a conflict.
    select * into job from public.jobs j
     where j.customer_id = enqueue_job.customer_id
       and j.idempotency_key = enqueue_job.idempotency_key;
    result.outcome := case
      when job.package_size = enqueue_job.package_size
       and job.priority_level = enqueue_job.priority_level
       and job.payload = coalesce(enqueue_job.payload, '{}'::jsonb) then 'existing'
      else 'conflict' end;
  else
    insert into private.outbox (job_id) values (job.id) returning id into result.outbox_id;
    insert into public.queue_history (job_id, event, attempt) values (job.id, 'enqueued', 0);
    result.outcome := 'created';
  end if;
  result.job_id := job.id;
  result.status := job.status;
  result.attempts := job.attempts;
  result.created_at := job.created_at;
  return result;
end;
$$;
comment on function public.enqueue_job(text, integer, integer, jsonb, text) is
  'Creates a pending job and its outbox row in one transaction; idempotent per (customer, key).';

create function public.claim_job(job_id uuid, worker_id text)
returns public.job_lease
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.jobs;
  result public.job_lease;
begin
  result.job_id := claim_job.job_id;
  -- skip locked: a job another transaction is changing right now is not ours to take.
  select * into job from public.jobs where id = claim_job.job_id for update skip locked;
  if not found then
    result.outcome := case
      when exists (select 1 from public.jobs where id = claim_job.job_id) then 'leased'
      else 'unknown_job' end;
    return result;
  end if;
  if job.status in ('completed', 'failed') then
    result.outcome := 'finished';
    return result;
  end if;
  if job.status = 'in_progress' then
    result.outcome := 'leased';
    return result;
  end if;
  if job.run_after > now() then
    result.outcome := 'not_due';
    result.retry_in_seconds := ceil(extract(epoch from job.run_after - now()))::integer;
    return result;
  end if;

  update public.jobs
     set status = 'in_progress',
         attempts = attempts + 1,
         lease_token = gen_random_uuid(),
         leased_by = claim_job.worker_id,
         leased_at = now(),
         heartbeat_at = null
   where id = job.id
  returning * into job;

  insert into public.worker_heartbeats (worker_id, current_job_id, last_heartbeat)
  values (claim_job.worker_id, job.id, now())
  on conflict (worker_id) do update
    set current_job_id = excluded.current_job_id, last_heartbeat = excluded.last_heartbeat;
  insert into public.queue_history (job_id, event, attempt, worker_id)
  values (job.id, 'claimed', job.attempts, claim_job.worker_id);

  result.outcome := 'claimed';
  result.attempt := job.attempts;
  result.lease := job.lease_token;
  result.customer_id := job.customer_id;
  result.package_size := job.package_size;
  result.priority_level := job.priority_level;
  result.payload := job.payload;
  return result;
end;
$$;
comment on function public.claim_job(uuid, text) is
  'Gives worker_id a new lease on a pending, due job, or says why not (see type job_lease).';

create function public.heartbeat(worker_id text, job_id uuid default null, lease uuid default null)
returns boolean
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
  end if;
  insert into public.worker_heartbeats (worker_id, current_job_id, last_heartbeat)
  values (heartbeat.worker_id, case when holds then heartbeat.job_id end, now())
  on conflict (worker_id) do update
    set current_job_id = excluded.current_job_id, last_heartbeat = excluded.last_heartbeat;
  return holds;
end;
$$;
comment on function public.heartbeat(text, uuid, uuid) is
  'Records that worker_id is alive. With a job: true while its lease holds, false once lost (stop working).';

create function public.complete_job(job_id uuid, lease uuid, result jsonb default null)
returns boolean
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.jobs;
begin
  select * into job from public.jobs where id = complete_job.job_id for update;
  if not found or job.lease_token is distinct from complete_job.lease then
    return false;
  end if;
  if job.status = 'completed' then
    return true; -- the same holder asking again (a retried call): already done
  end if;
  if job.status <> 'in_progress' then
    return false;
  end if;
  update public.jobs
     set status = 'completed', completed_at = now(), result = complete_job.result,
         error_message = null
   where id = job.id;
  perform private.free_workers(array[job.id]);
  insert into public.queue_history (job_id, event, attempt, worker_id)
  values (job.id, 'completed', job.attempts, job.leased_by);
  return true;
end;
$$;
comment on function public.complete_job(uuid, uuid, jsonb) is
  'Marks the job completed if lease is its current lease; false when the lease was lost.';

create function public.fail_job(
  job_id uuid,
  lease uuid,
  error text,
  retryable boolean default true
) returns public.job_failure
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
comment on function public.fail_job(uuid, uuid, text, boolean) is
  'Records a failure under the current lease: retry with backoff while attempts remain and retryable, else failed.';

create function public.release_job(job_id uuid, lease uuid, reason text default 'released by worker')
returns boolean
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
comment on function public.release_job(uuid, uuid, text) is
  'Gives an unfinished job back (a worker shutting down): pending again at once, lease revoked.';

revoke execute on function
  public.enqueue_job(text, integer, integer, jsonb, text),
  public.claim_job(uuid, text),
  public.heartbeat(text, uuid, uuid),
  public.complete_job(uuid, uuid, jsonb),
  public.fail_job(uuid, uuid, text, boolean),
  public.release_job(uuid, uuid, text)
  from public, anon, authenticated;
grant execute on function
  public.enqueue_job(text, integer, integer, jsonb, text),
  public.claim_job(uuid, text),
  public.heartbeat(text, uuid, uuid),
  public.complete_job(uuid, uuid, jsonb),
  public.fail_job(uuid, uuid, text, boolean),
  public.release_job(uuid, uuid, text)
  to service_role;

-- Outbox drain, used by the `dispatch` function inside one transaction: take due rows (locked,
-- skip locked, so concurrent drains never take the same row), send, then settle them.
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

create function private.settle_outbox(
  delivered_ids bigint[],
  message_ids text[],
  failed_ids bigint[],
  failure text
) returns void
language plpgsql
set search_path = ''
as $$
declare
  retry_max integer;
begin
  update private.outbox o
     set delivered_at = now(), tries = o.tries + 1, message_id = d.message_id, last_error = null
    from unnest(delivered_ids, message_ids) as d(id, message_id)
   where o.id = d.id;
  select dispatch_retry_max_seconds into retry_max from private.settings;
  -- Exponential backoff from 2 s, capped, so an SQS outage is retried without hammering it.
  update private.outbox o
     set tries = o.tries + 1,
         last_error = left(failure, 500),
         available_at = now() + make_interval(secs => private.backoff_seconds(2, retry_max, o.tries + 1))
   where o.id = any (failed_ids);
end;
$$;
comment on function private.settle_outbox(bigint[], text[], bigint[], text) is
  'Marks sent outbox rows delivered and schedules failed ones for a later try.';

-- A generic "call an Edge Function from pg_cron": URL and service key from Vault.
create function private.invoke_function(slug text, body jsonb default '{}'::jsonb)
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  project_url text;
  service_key text;
begin
  select decrypted_secret into project_url from vault.decrypted_secrets where name = 'project_url';
  select decrypted_secret into service_key from vault.decrypted_secrets
   where name = 'service_role_key';
  if project_url is null or service_key is null then
    raise warning 'invoke_function(%): Vault secrets project_url and service_role_key are not set', slug;
    return null;
  end if;
  return net.http_post(
    url := project_url || '/functions/v1/' || slug,
    body := body,
    headers := jsonb_build_object('Content-Type', 'application/json',
                                  'Authorization', 'Bearer ' || service_key),
    timeout_milliseconds := 30000
  );
end;
$$;
comment on function private.invoke_function(text, jsonb) is
  'POSTs to an Edge Function via pg_net with the project URL and service key from Vault; returns the request id.';

-- pg_cron calls this every minute; it calls `dispatch` only when something is due.
create function private.request_dispatch()
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
begin
  if not exists (select 1 from private.outbox
                  where delivered_at is null and available_at <= now()) then
    return null;
  end if;
  return private.invoke_function('dispatch');
end;
$$;
comment on function private.request_dispatch() is
  'If outbox rows are due, POSTs to the dispatch function via pg_net (see invoke_function).';

-- API keys: issued and revoked by operators (deno task apikey), checked by the queue function.
create function private.issue_api_key(customer_id text, name text default '')
returns table (id uuid, api_key text)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  key text := 'jq_' || translate(encode(extensions.gen_random_bytes(24), 'base64'), '+/', '-_');
begin
  return query
    insert into private.api_keys (customer_id, key_hash, key_prefix, name)
    values (issue_api_key.customer_id, extensions.digest(key, 'sha256'), left(key, 10),
            coalesce(issue_api_key.name, ''))
    returning api_keys.id, key;
end;
$$;
comment on function private.issue_api_key(text, text) is
  'Creates an API key for a customer and returns it; only its hash is kept.';

create function private.revoke_api_key(key_id uuid)
returns boolean
language sql
set search_path = ''
as $$
  update private.api_keys set revoked_at = now()
   where id = key_id and revoked_at is null
  returning true;
$$;
comment on function private.revoke_api_key(uuid) is 'Revokes an API key; true if it was active.';

revoke all on function private.take_outbox(integer, bigint[]),
  private.settle_outbox(bigint[], text[], bigint[], text), private.invoke_function(text, jsonb),
  private.request_dispatch(), private.issue_api_key(text, text), private.revoke_api_key(uuid),
  private.clear_revoked_lease(), private.free_workers(uuid[]),
  private.backoff_seconds(integer, integer, integer) from public;

select cron.schedule('dispatch-outbox', '* * * * *', 'select private.request_dispatch()');

-- Functions get EXECUTE for PUBLIC by default; the private schema's helpers are for the owner
-- (and pg_cron) only.
revoke all on function private.prune_cron_history(interval), private.touch_updated_at() from public;
