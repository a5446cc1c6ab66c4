-- Dead-letter queue monitor: the alert policy and its state, durable Slack alerts (a row first,
-- sent after, retried until delivered), dead-lettered jobs marked failed, and an idempotent
-- redrive. The `dlq-monitor` Edge Function does the SQS and Slack I/O; every decision that must
-- survive a crash or a concurrent run is made here, in one transaction.

alter table private.settings
  add column dlq_remind_seconds integer not null default 14400
    check (dlq_remind_seconds between 60 and 604800),
  add column dlq_growth_alert_seconds integer not null default 600
    check (dlq_growth_alert_seconds between 0 and 86400),
  add column dlq_resolve_after_checks integer not null default 2
    check (dlq_resolve_after_checks between 1 and 60),
  add column alert_retry_base_seconds integer not null default 30
    check (alert_retry_base_seconds between 1 and 3600),
  add column alert_retry_max_seconds integer not null default 900
    check (alert_retry_max_seconds between 1 and 86400);
comment on column private.settings.dlq_remind_seconds is
  'While the DLQ stays non-empty, a reminder alert this long after the last alert (default 4 h).';
comment on column private.settings.dlq_growth_alert_seconds is
  'A DLQ that keeps growing alerts again at most this often, so a burst gives a handful of messages.';
comment on column private.settings.dlq_resolve_after_checks is
  'Checks in a row that must find the DLQ empty before the "resolved" alert.';
comment on column private.settings.alert_retry_base_seconds is
  'Wait before retrying an alert Slack failed to take (5xx, timeout); doubles per try.';
comment on column private.settings.alert_retry_max_seconds is
  'Longest wait between tries of an undelivered alert (also the wait while Slack is misconfigured).';

-- One row: what the last check saw and whether an incident is open.
create table private.dlq_monitor (
  id boolean primary key default true check (id),
  depth integer not null default 0 check (depth >= 0),
  -- An incident is open from the first alert until the "resolved" one.
  incident_since timestamptz,
  alerted_depth integer,
  alerted_at timestamptz,
  empty_checks integer not null default 0,
  checked_at timestamptz
);
comment on table private.dlq_monitor is
  'The DLQ monitor''s state (one row): last depth seen, open incident, last alert. Written by private.decide_dlq_alert().';
insert into private.dlq_monitor default values;
alter table private.dlq_monitor enable row level security;

-- Alerts are rows first and Slack messages after: a crash, a timeout or a Slack outage between
-- the two leaves the row, and a later run sends it.
create table private.alerts (
  id bigint generated always as identity primary key,
  kind text not null check (kind in ('dlq_triggered', 'dlq_grew', 'dlq_reminder', 'dlq_resolved')),
  -- The Slack payload as built when the alert was raised: {"text": ..., "blocks": [...]}.
  message jsonb not null check (coalesce(jsonb_typeof(message -> 'text') = 'string', false)),
  created_at timestamptz not null default now(),
  available_at timestamptz not null default now(),
  tries integer not null default 0,
  delivered_at timestamptz,
  last_error text
);
comment on table private.alerts is
  'Slack alerts, written before they are sent; delivered_at is set once Slack took one.';
comment on column private.alerts.available_at is 'Not sent before this time (Retry-After, backoff).';
create index alerts_due_idx on private.alerts (available_at, id) where delivered_at is null;
alter table private.alerts enable row level security;

-- One sender at a time, and never faster than one message per second to the webhook.
create table private.slack_delivery (
  id boolean primary key default true check (id),
  -- No message before this time: 1 s after the last one, or Slack's Retry-After.
  not_before timestamptz not null default '-infinity',
  -- A run holds the right to send until then (a crashed run's lease simply expires).
  leased_until timestamptz not null default '-infinity'
);
comment on table private.slack_delivery is
  'Pacing of Slack webhook posts across runs and instances (one row).';
insert into private.slack_delivery default values;
alter table private.slack_delivery enable row level security;

-- Which DLQ messages were already put back on the queue: a redrive interrupted between its
-- database step and deleting the message finds the row on the next run and only deletes.
create table private.redrives (
  dlq_message_id text primary key,
  job_id uuid references public.jobs (id) on delete cascade,
  outcome text not null check (outcome in ('requeued', 'finished', 'running')),
  outbox_id bigint,
  redriven_at timestamptz not null default now()
);
comment on table private.redrives is
  'One row per DLQ message handled by a redrive, so running it again never re-sends a job.';
alter table private.redrives enable row level security;

create type private.dlq_alert_decision as (
  -- The alert to raise now, if any: dlq_triggered | dlq_grew | dlq_reminder | dlq_resolved.
  alert text,
  previous_depth integer,
  incident_since timestamptz
);
comment on type private.dlq_alert_decision is 'decide_dlq_alert() result.';

-- The alert policy (see the README's table). Call it in the transaction that stores the alert,
-- so a crash between deciding and storing decides again.
create function private.decide_dlq_alert(depth integer)
returns private.dlq_alert_decision
language plpgsql
set search_path = ''
as $$
declare
  state private.dlq_monitor;
  settings private.settings;
  result private.dlq_alert_decision;
begin
  if depth is null or depth < 0 then
    raise exception 'decide_dlq_alert: depth must be a non-negative integer';
  end if;
  -- The row lock serializes concurrent checks: each alert is decided once.
  select * into state from private.dlq_monitor for update;
  select * into settings from private.settings;
  result.previous_depth := state.depth;

  if depth > 0 then
    if state.incident_since is null then
      result.alert := 'dlq_triggered';
      state.incident_since := now();
    elsif depth > coalesce(state.alerted_depth, 0)
          and state.alerted_at <= now() - make_interval(secs => settings.dlq_growth_alert_seconds) then
      result.alert := 'dlq_grew';
    elsif state.alerted_at <= now() - make_interval(secs => settings.dlq_remind_seconds) then
      result.alert := 'dlq_reminder';
    end if;
    state.empty_checks := 0;
  elsif state.incident_since is not null then
    state.empty_checks := state.empty_checks + 1;
    if state.empty_checks >= settings.dlq_resolve_after_checks then
      result.alert := 'dlq_resolved';
    end if;
  end if;
  result.incident_since := state.incident_since;

  update private.dlq_monitor m
     set depth = decide_dlq_alert.depth,
         checked_at = now(),
         empty_checks = case when result.alert = 'dlq_resolved' then 0 else state.empty_checks end,
         incident_since = case when result.alert = 'dlq_resolved' then null
                               else state.incident_since end,
         alerted_depth = case when result.alert = 'dlq_resolved' then null
                              when result.alert is not null then decide_dlq_alert.depth
                              else m.alerted_depth end,
         alerted_at = case when result.alert = 'dlq_resolved' then null
                           when result.alert is not null then now()
                           else m.alerted_at end;
  return result;
end;
$$;
comment on function private.decide_dlq_alert(integer) is
  'Records the DLQ depth one check saw and says which alert to raise, if any (the alert policy; state in private.dlq_monitor).';

-- Dead letters whose job would otherwise wait forever: the job is marked failed when the DLQ
-- holds the last copy sent for it (no newer send is waiting or delivered) and no live worker
-- holds it.
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

create function private.raise_alert(kind text, message jsonb)
returns bigint
language sql
set search_path = ''
as $$
  insert into private.alerts (kind, message) values (kind, message) returning id;
$$;
comment on function private.raise_alert(text, jsonb) is 'Stores an alert for delivery; returns its id.';

create function private.claim_slack_delivery(lease_seconds integer)
returns timestamptz
language sql
set search_path = ''
as $$
  update private.slack_delivery
     set leased_until = now() + make_interval(secs => lease_seconds)
   where leased_until < now()
  returning not_before;
$$;
comment on function private.claim_slack_delivery(integer) is
  'Takes the right to post to Slack for lease_seconds; returns the earliest time to post, or null when another run holds it.';

create function private.release_slack_delivery()
returns void
language sql
set search_path = ''
as $$
  update private.slack_delivery set leased_until = '-infinity';
$$;
comment on function private.release_slack_delivery() is 'Gives the right to post to Slack back.';

create function private.due_alerts(max_alerts integer)
returns setof private.alerts
language sql
stable
set search_path = ''
as $$
  select * from private.alerts
   where delivered_at is null and available_at <= now()
   order by id
   limit max_alerts;
$$;
comment on function private.due_alerts(integer) is 'Undelivered alerts whose time has come, oldest first.';

-- outcome: delivered | rate_limited (retry_after_seconds from Slack) | failed (5xx, timeout,
-- unreachable) | misconfigured (400/403/404/410: surfaces in health until a post works).
create function private.settle_alert(
  alert_id bigint,
  outcome text,
  retry_after_seconds integer default null,
  detail text default null
) returns void
language plpgsql
set search_path = ''
as $$
declare
  settings private.settings;
begin
  select * into settings from private.settings;
  if outcome = 'delivered' then
    update private.alerts
       set delivered_at = now(), tries = tries + 1, last_error = null
     where id = alert_id;
    update private.slack_delivery set not_before = clock_timestamp() + interval '1 second';
    insert into private.integration_status (name, ok, detail, updated_at)
    values ('slack', true, '', now())
    on conflict (name) do update set ok = true, detail = '', updated_at = now();
  elsif outcome = 'rate_limited' then
    update private.alerts
       set tries = tries + 1, last_error = left(detail, 500),
           available_at = now() + make_interval(secs => greatest(1, coalesce(retry_after_seconds, 30)))
     where id = alert_id;
    update private.slack_delivery
       set not_before = now() + make_interval(secs => greatest(1, coalesce(retry_after_seconds, 30)));
  elsif outcome in ('failed', 'misconfigured') then
    update private.alerts a
       set tries = a.tries + 1, last_error = left(detail, 500),
           available_at = now() + make_interval(secs => case
             when outcome = 'misconfigured' then settings.alert_retry_max_seconds
             else private.backoff_seconds(settings.alert_retry_base_seconds,
                                          settings.alert_retry_max_seconds, a.tries + 1)
           end)
     where id = alert_id;
    if outcome = 'misconfigured' then
      insert into private.integration_status (name, ok, detail, updated_at)
      values ('slack', false, left(detail, 500), now())
      on conflict (name) do update set ok = false, detail = excluded.detail, updated_at = now();
    end if;
  else
    raise exception 'settle_alert: unknown outcome %', outcome;
  end if;
end;
$$;
comment on function private.settle_alert(bigint, text, integer, text) is
  'Records what Slack answered for an alert: delivered, rate_limited (Retry-After), failed (backoff) or misconfigured (health degrades).';

-- One DLQ message put back: the job becomes pending with a new attempt and a new outbox row,
-- unless this message was handled before (then only its deletion is left to do).
create function private.redrive_job(dlq_message_id text, job_id uuid)
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
comment on function private.redrive_job(text, uuid) is
  'Puts a dead-lettered job back (pending, new outbox row) once per DLQ message; outcome: requeued | finished | running | already_redriven | unknown_job.';

revoke all on function private.decide_dlq_alert(integer), private.mark_dead_lettered(jsonb),
  private.raise_alert(text, jsonb), private.claim_slack_delivery(integer),
  private.release_slack_delivery(), private.due_alerts(integer),
  private.settle_alert(bigint, text, integer, text), private.redrive_job(text, uuid) from public;

select cron.schedule('dlq-monitor', '* * * * *', $$select private.invoke_function('dlq-monitor')$$);
