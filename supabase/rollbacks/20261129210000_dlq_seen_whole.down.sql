-- Rolls back 20261129210000_dlq_seen_whole.sql: the monitor samples 10 dead letters a run again.
-- Roll the dlq-monitor function back first (it calls private.record_dead_letters).
select cron.unschedule('resend-lost-jobs');
drop function private.resend_lost_jobs(integer);
drop function private.dead_letter_summary();
drop function private.prune_dead_letters(timestamptz);
drop function private.record_dead_letters(jsonb);
drop table private.dead_letters;
drop function private.release_dlq(timestamptz);
drop function private.claim_dlq(integer);
alter table private.dlq_monitor drop column held_until;
alter table private.settings drop column lost_message_after_seconds;

-- private.redrive_job and private.mark_dead_lettered as 20261122200000_dlq_monitor left them.
create or replace function private.redrive_job(dlq_message_id text, job_id uuid)
returns table (outcome text, outbox_id bigint)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  job public.jobs;
  done private.redrives;
  new_outbox bigint;
  result text;
begin
  select * into done from private.redrives r where r.dlq_message_id = redrive_job.dlq_message_id;
  if found then
    return query select 'already_redriven'::text, done.outbox_id;
    return;
  end if;
  select * into job from public.jobs j where j.id = redrive_job.job_id for update;
  if not found then
    return query select 'unknown_job'::text, null::bigint;
    return;
  end if;

  if job.status = 'completed' then
    result := 'finished';
  elsif job.status = 'in_progress'
        and coalesce(job.heartbeat_at, job.leased_at) >= private.stale_before() then
    -- A live worker holds it; if that worker dies, stale recovery re-sends it.
    result := 'running';
  else
    update public.jobs
       set status = 'pending', completed_at = null, run_after = now(),
           lease_token = null -- revoked: see trigger jobs_revoke_lease
     where id = job.id;
    perform private.free_workers(array[job.id]);
    insert into private.outbox (job_id) values (job.id) returning id into new_outbox;
    insert into public.queue_history (job_id, event, attempt, reason)
    values (job.id, 'redriven', job.attempts, 'moved back from the dead-letter queue');
    result := 'requeued';
  end if;
  insert into private.redrives (dlq_message_id, job_id, outcome, outbox_id)
  values (redrive_job.dlq_message_id, job.id, result, new_outbox);
  return query select result, new_outbox;
end;
$$;

create function private.mark_dead_lettered(sample jsonb)
returns table (job_id uuid, customer_id text, status text, error text, marked boolean)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  marked_ids uuid[];
begin
  with sampled as (
    select distinct on (s.job_id) s.job_id, s.message_id
      from jsonb_to_recordset(sample) as s(job_id uuid, message_id text)
     where s.job_id is not null
  ), dead as (
    select j.id, j.attempts, j.error_message, j.leased_by
      from sampled s
      join public.jobs j on j.id = s.job_id
     where (j.status = 'pending'
            or (j.status = 'in_progress'
                and coalesce(j.heartbeat_at, j.leased_at) < private.stale_before()))
       and (select o.message_id from private.outbox o
             where o.job_id = j.id order by o.id desc limit 1) is not distinct from s.message_id
       for update of j skip locked
  ), changed as (
    update public.jobs j
       set status = 'failed', completed_at = now(),
           error_message = 'Dead-lettered' ||
             coalesce(' (last error: ' || left(d.error_message, 400) || ')', ''),
           lease_token = null -- revoked: see trigger jobs_revoke_lease
      from dead d
     where j.id = d.id
    returning j.id, d.attempts, d.leased_by
  ), history as (
    insert into public.queue_history (job_id, event, attempt, worker_id, reason)
    select c.id, 'dead_lettered', c.attempts, c.leased_by, 'dead-lettered' from changed c
  )
  select coalesce(array_agg(c.id), '{}') into marked_ids from changed c;
  perform private.free_workers(marked_ids);

  return query
    select j.id, j.customer_id, j.status, j.error_message, j.id = any (marked_ids)
      from public.jobs j
     where j.id in (select s.job_id from jsonb_to_recordset(sample) as s(job_id uuid))
     order by j.id;
end;
$$;
comment on function private.mark_dead_lettered(jsonb) is
  'Marks failed the jobs of sampled dead letters [{job_id, message_id}] that nothing else will finish; returns the sampled jobs the database knows, marked = failed by this call.';

revoke all on function private.mark_dead_lettered(jsonb) from public;
