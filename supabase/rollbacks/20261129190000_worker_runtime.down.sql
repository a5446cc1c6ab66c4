-- Rolls back 20261129190000_worker_runtime.sql: public.claim_job and public.complete_job get their
-- bodies of 20261122160000_job_pipeline back. Stop the workers of this release (they claim, beat
-- and complete with the array forms) or roll them back first.
create or replace function public.claim_job(job_id uuid, worker_id text)
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

create or replace function public.complete_job(job_id uuid, lease uuid, result jsonb default null)
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

drop view public.workers_view;
drop function public.complete_jobs(uuid[], uuid[], jsonb[]);
drop function public.heartbeat_jobs(text, uuid[], uuid[], jsonb[]);
drop function public.claim_jobs(uuid[], text);
alter table public.jobs drop column progress;
