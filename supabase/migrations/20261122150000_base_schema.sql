-- Base schema: the job tables operators already know (jobs, worker_heartbeats, queue_history),
-- locked down with row level security, and the extensions the system schedules and calls with.
-- Applies unchanged to hosted Supabase and to the local stack (deno task start).

-- pg_cron lives in pg_catalog on hosted Supabase; its jobs run inside Postgres.
create extension if not exists pg_cron with schema pg_catalog;

-- pg_net turns a schedule into an HTTP call. Hosted Supabase ships it; the local stack provides a
-- dev-only stand-in with the same SQL API, so enable the extension only where it exists.
do $$
begin
  if exists (select 1 from pg_available_extensions where name = 'pg_net') then
    create extension if not exists pg_net with schema extensions;
  end if;
end
$$;

-- Internal helpers live here; Supabase's REST layer does not expose this schema.
create schema if not exists private;
revoke all on schema private from public;
comment on schema private is 'Internal helpers of the job system; not exposed over the API.';

create table public.jobs (
  id uuid primary key default gen_random_uuid(),
  customer_id text not null check (length(customer_id) between 1 and 128),
  package_size integer not null check (package_size > 0),
  priority_level smallint not null default 0 check (priority_level between 0 and 10),
  status text not null default 'pending'
    check (status in ('pending', 'in_progress', 'completed', 'failed')),
  attempts integer not null default 0 check (attempts >= 0),
  error_message text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  completed_at timestamptz,
  -- A job is finished exactly when it has a completion time.
  constraint jobs_completed_at_matches_status
    check ((status in ('completed', 'failed')) = (completed_at is not null))
);
comment on table public.jobs is
  'One row per customer job. The source of truth for job state; SQS only carries job ids.';
comment on column public.jobs.priority_level is 'Higher runs first among pending jobs (0-10).';
comment on column public.jobs.attempts is 'How many times a worker has claimed the job.';
comment on column public.jobs.completed_at is 'When the job reached completed or failed.';

-- A customer's job list, newest first.
create index jobs_customer_created_idx on public.jobs (customer_id, created_at desc);
-- Finished-today counts read only finished rows.
create index jobs_finished_idx on public.jobs (status, completed_at)
  where status in ('completed', 'failed');

create table public.worker_heartbeats (
  worker_id text primary key check (length(worker_id) between 1 and 128),
  current_job_id uuid references public.jobs (id) on delete set null,
  last_heartbeat timestamptz not null default now()
);
comment on table public.worker_heartbeats is
  'The latest sign of life from each worker and the job it is working on.';
create index worker_heartbeats_current_job_idx on public.worker_heartbeats (current_job_id)
  where current_job_id is not null;

create table public.queue_history (
  id bigint generated always as identity primary key,
  job_id uuid not null references public.jobs (id) on delete cascade,
  event text not null check (event ~ '^[a-z][a-z_]*$'),
  attempt integer,
  worker_id text,
  reason text,
  created_at timestamptz not null default now()
);
comment on table public.queue_history is
  'Append-only log: one row per job event (enqueued, claimed, completed, failed, recovered...).';
create index queue_history_job_idx on public.queue_history (job_id, id);
create index queue_history_created_idx on public.queue_history (created_at);

create function private.touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end;
$$;
comment on function private.touch_updated_at() is 'Keeps jobs.updated_at current on every update.';

create trigger jobs_touch_updated_at
  before update on public.jobs
  for each row execute function private.touch_updated_at();

-- Row level security with no policies: only service_role (which bypasses RLS) and the owner see
-- rows. The explicit revokes make anon and authenticated fail loudly instead of seeing nothing.
alter table public.jobs enable row level security;
alter table public.worker_heartbeats enable row level security;
alter table public.queue_history enable row level security;
revoke all on table public.jobs, public.worker_heartbeats, public.queue_history
  from anon, authenticated;
revoke all on sequence public.queue_history_id_seq from anon, authenticated;
grant select, insert, update, delete on table
  public.jobs, public.worker_heartbeats, public.queue_history to service_role;

-- Housekeeping: pg_cron never prunes its own run history.
create function private.prune_cron_history(keep interval default interval '7 days')
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  removed bigint;
begin
  delete from cron.job_run_details where end_time < now() - keep;
  get diagnostics removed = row_count;
  return removed;
end;
$$;
comment on function private.prune_cron_history(interval) is
  'Deletes pg_cron run history older than keep; returns the number of rows removed.';

-- Scheduled by name, so applying again replaces the job instead of adding a second one.
select cron.schedule('prune-cron-history', '17 3 * * *', 'select private.prune_cron_history()');
