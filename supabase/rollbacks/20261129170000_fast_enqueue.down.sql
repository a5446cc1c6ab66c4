-- Rolls back 20261129170000_fast_enqueue.sql: public.enqueue_job and private.settle_outbox get
-- their bodies of 20261122160000_job_pipeline back. Roll back the queue function first: it
-- calls enqueue_requests.
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
create or replace function private.settle_outbox(
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
drop function private.enqueue_requests(jsonb, integer);
drop table private.enqueue_batches;
