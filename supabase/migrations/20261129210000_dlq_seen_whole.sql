-- The dead-letter queue seen whole (issue #17). Each dlq-monitor run reads every message in the
-- DLQ (supabase/functions/dlq-monitor/walk.ts) and records it here, one row per message, with
-- what was done about its job; every job whose last copy is a dead letter is settled, not a
-- sample of ten. A sweep re-sends jobs whose message is gone from both queues.
-- Replaces private.redrive_job (a redriven message's row is removed). Drops
-- private.mark_dead_lettered: private.record_dead_letters settles by the same rule, for every
-- message rather than a sample.

alter table private.settings
  add column lost_message_after_seconds integer not null default 10800
    check (lost_message_after_seconds between 600 and 604800);
comment on column private.settings.lost_message_after_seconds is
  'A pending job due this long, neither claimed nor sent since, has lost its message: private.resend_lost_jobs() sends it again (default 3 h).';

-- One row per message in the DLQ, as the last walk saw it.
create table private.dead_letters (
  -- The SQS message id: SQS keeps it when it moves a message to the DLQ, so it matches
  -- private.outbox.message_id of the send that died.
  message_id text primary key,
  -- Null: the body names no job ("not a job message").
  job_id uuid,
  customer_id text,
  -- SQS's ApproximateReceiveCount when a walk first read the message (3 receives from jobs, plus
  -- that read). Not updated after: every walk's read counts as a receive too.
  receive_count integer not null check (receive_count >= 0),
  first_seen_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now(),
  action text not null check (action in (
    'settled',       -- the job was marked failed (dead-lettered) because of this message
    'resent_since',  -- left alone: the job was sent again after this copy (a newer message decides)
    'finished',      -- left alone: the job had already completed or failed
    'running',       -- left alone: a live worker holds the job
    'busy',          -- the job was being changed at that moment: decided on the next walk
    'unknown_job',   -- the job id is not in the jobs table
    'not_a_job'      -- the body names no job
  )),
  action_at timestamptz not null default now()
);
comment on table private.dead_letters is
  'Every message in the DLQ as the dlq-monitor''s last walk saw it, and what was done about its job. Rows of messages that left the DLQ (redriven, expired, purged) are removed.';
create index dead_letters_job_idx on private.dead_letters (job_id);
alter table private.dead_letters enable row level security;

-- One reader that hides DLQ messages at a time (a check's walk or a redrive): two would hide
-- messages from each other. A reader that dies holding the lease simply lets it lapse.
alter table private.dlq_monitor add column held_until timestamptz;
comment on column private.dlq_monitor.held_until is
  'A dlq-monitor walk or a redrive holds the DLQ until then (private.claim_dlq).';

create function private.claim_dlq(lease_seconds integer)
returns timestamptz
language sql
set search_path = ''
as $$
  update private.dlq_monitor
     set held_until = now() + make_interval(secs => lease_seconds)
   where held_until is null or held_until < now()
  returning held_until;
$$;
comment on function private.claim_dlq(integer) is
  'Takes the right to hide DLQ messages for lease_seconds; returns the lease (its end, to release it with), or null while another holds it.';

-- Only the holder's own lease: a reader that outlived its lease must not end the next one's.
create function private.release_dlq(lease timestamptz)
returns void
language sql
set search_path = ''
as $$
  update private.dlq_monitor set held_until = null where held_until = lease;
$$;
comment on function private.release_dlq(timestamptz) is 'Gives back the lease private.claim_dlq returned, if it is still the current one.';

-- letters: [{"message_id", "job_id" (null if none), "customer_id", "receive_count"}], one batch of
-- a walk. Settles by today's rule (the job is marked failed when the DLQ holds the last copy sent
-- for it and no live worker holds it), records each message, and counts what this call did.
create function private.record_dead_letters(letters jsonb)
returns table (action text, messages integer)
language plpgsql
set search_path = ''
as $$
#variable_conflict use_column
declare
  settled_ids uuid[];
begin
  with seen as (
    select distinct on (l.message_id) l.message_id, l.job_id
      from jsonb_to_recordset(letters) as l(message_id text, job_id uuid)
     where l.message_id is not null and l.job_id is not null
  ), dead as (
    select j.id, j.attempts, j.leased_by
      from seen s
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
             coalesce(' (last error: ' || left(j.error_message, 400) || ')', ''),
           lease_token = null -- revoked: see trigger jobs_revoke_lease
      from dead d
     where j.id = d.id
    returning j.id, d.attempts, d.leased_by
  ), history as (
    insert into public.queue_history (job_id, event, attempt, worker_id, reason)
    select c.id, 'dead_lettered', c.attempts, c.leased_by, 'dead-lettered' from changed c
  )
  select coalesce(array_agg(c.id), '{}') into settled_ids from changed c;
  perform private.free_workers(settled_ids);

  -- A new statement: it sees the jobs as the update above left them.
  return query
  with seen as (
    select distinct on (l.message_id) l.message_id, l.job_id, l.customer_id, l.receive_count
      from jsonb_to_recordset(letters)
           as l(message_id text, job_id uuid, customer_id text, receive_count integer)
     where l.message_id is not null
     order by l.message_id
  ), judged as (
    select s.message_id, s.job_id, left(coalesce(j.customer_id, s.customer_id), 128) as customer_id,
           greatest(coalesce(s.receive_count, 0), 0) as receive_count,
           case
             when s.job_id is null then 'not_a_job'
             when j.id is null then 'unknown_job'
             when j.id = any (settled_ids) then 'settled'
             when j.status in ('completed', 'failed') then 'finished'
             when (select o.message_id from private.outbox o
                    where o.job_id = j.id order by o.id desc limit 1)
                  is distinct from s.message_id then 'resent_since'
             when j.status = 'in_progress'
                  and coalesce(j.heartbeat_at, j.leased_at) >= private.stale_before() then 'running'
             else 'busy'
           end as action
      from seen s
      left join public.jobs j on j.id = s.job_id
  ), recorded as (
    insert into private.dead_letters as d (message_id, job_id, customer_id, receive_count, action)
    select message_id, job_id, customer_id, receive_count, action from judged
    on conflict (message_id) do update
       set customer_id = excluded.customer_id,
           last_seen_at = now(),
           -- A job this message settled stays "settled": not "finished" by its own hand, nor
           -- "busy" because something held the job's row that instant.
           action = case when d.action = 'settled' and excluded.action in ('finished', 'busy')
                         then d.action else excluded.action end,
           action_at = case when d.action = 'settled' and excluded.action in ('finished', 'busy')
                            then d.action_at
                            when d.action = excluded.action then d.action_at
                            else now() end
    returning 1
  )
  -- What this call did: a job settled by an earlier walk counts as "finished" now.
  select j.action, count(*)::integer from judged j group by j.action order by j.action;
end;
$$;
comment on function private.record_dead_letters(jsonb) is
  'Records one batch of a DLQ walk [{message_id, job_id, customer_id, receive_count}] in private.dead_letters, settling the jobs whose last copy is a dead letter; returns the count per action.';

-- After a walk that read the whole DLQ: rows not seen since seen_since belong to messages that left
-- it (redriven, expired, purged). The caller picks seen_since: the walk's start when the DLQ was
-- empty, else that minus the longest a walk hides a message (one cut short may hide some still).
create function private.prune_dead_letters(seen_since timestamptz)
returns integer
language sql
set search_path = ''
as $$
  with gone as (
    delete from private.dead_letters where last_seen_at < seen_since returning 1
  )
  select count(*)::integer from gone;
$$;
comment on function private.prune_dead_letters(timestamptz) is
  'Removes the dead letters a whole walk starting at seen_since did not see; returns how many.';

-- What an alert says about a flood: counts, not a list of a thousand ids.
create function private.dead_letter_summary()
returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'recorded', (select count(*) from private.dead_letters),
    'by_action', coalesce((select jsonb_object_agg(a.action, a.letters)
                             from (select action, count(*) as letters from private.dead_letters
                                    group by action) a), '{}'),
    'customers', coalesce((select jsonb_agg(c order by c.letters desc, c.customer_id)
                             from (select customer_id, count(*) as letters
                                     from private.dead_letters where customer_id is not null
                                    group by customer_id order by count(*) desc, customer_id
                                    limit 3) c), '[]'),
    'examples', coalesce((select jsonb_agg(e order by e.last_seen_at desc, e.message_id)
                            from (select d.message_id, d.job_id, d.customer_id, d.receive_count,
                                         d.last_seen_at, d.action, j.error_message as error
                                    from private.dead_letters d
                                    left join public.jobs j on j.id = d.job_id
                                   order by (d.action = 'settled') desc, d.last_seen_at desc,
                                            d.message_id
                                   limit 3) e), '[]')
  );
$$;
comment on function private.dead_letter_summary() is
  'The recorded dead letters in brief: total, count per action, top 3 customers, 3 examples (settled jobs first).';

-- Jobs whose message is gone from both queues (deleted by mistake, expired after the queue's
-- retention) would wait forever: nothing else sends them again. A job pending and due for longer
-- than lost_message_after_seconds, not claimed and not sent in that time, and whose last copy is
-- not a recorded dead letter, gets a new outbox row, while some worker is alive (without one, the
-- wait says nothing about the message). A duplicate delivery is harmless: the lease
-- decides who runs it. Scans the pending jobs (a partial index), every 10 minutes.
create function private.resend_lost_jobs(max_jobs integer default 1000)
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
comment on function private.resend_lost_jobs(integer) is
  'Sends again (new outbox row, "resent" history row) the pending jobs whose message is gone from both queues; returns how many.';

-- A redriven message leaves the DLQ: its row goes with it (also when a redrive that crashed
-- before deleting the message finds "already_redriven" and deletes it now). A message naming an
-- unknown job stays in the DLQ, and so does its row.
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
    delete from private.dead_letters d where d.message_id = redrive_job.dlq_message_id;
    return query select 'already_redriven'::text, done.outbox_id;
    return;
  end if;
  select * into job from public.jobs j where j.id = redrive_job.job_id for update;
  if not found then
    return query select 'unknown_job'::text, null::bigint;
    return;
  end if;
  delete from private.dead_letters d where d.message_id = redrive_job.dlq_message_id;

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

comment on function private.redrive_job(text, uuid) is
  'Puts a dead-lettered job back (pending, new outbox row) once per DLQ message and removes the message''s row in private.dead_letters; outcome: requeued | finished | running | already_redriven | unknown_job.';

drop function private.mark_dead_lettered(jsonb);

revoke all on function private.claim_dlq(integer), private.release_dlq(timestamptz),
  private.record_dead_letters(jsonb), private.prune_dead_letters(timestamptz),
  private.dead_letter_summary(), private.resend_lost_jobs(integer) from public;

select cron.schedule('resend-lost-jobs', '*/10 * * * *', 'select private.resend_lost_jobs()');
