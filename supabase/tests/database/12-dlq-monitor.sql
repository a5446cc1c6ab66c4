-- The DLQ monitor's SQL: the alert policy, dead-lettered jobs, alert settlement, redrive, cron.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(40);

delete from private.alerts;
delete from private.integration_status;
update private.dlq_monitor
   set depth = 0, incident_since = null, alerted_depth = null, alerted_at = null,
       empty_checks = 0, checked_at = null;
update private.settings
   set dlq_remind_seconds = 14400, dlq_growth_alert_seconds = 600, dlq_resolve_after_checks = 2,
       alert_retry_base_seconds = 30, alert_retry_max_seconds = 900, stale_threshold_seconds = 90;

-- Alert policy.
select is((private.decide_dlq_alert(0)).alert, null, 'an empty DLQ raises nothing');
select is((private.decide_dlq_alert(3)).alert, 'dlq_triggered', '0 -> 3 raises the first alert');
select is((private.decide_dlq_alert(3)).alert, null, 'the same depth again raises nothing');
select is((private.decide_dlq_alert(900)).alert, null,
  'growth within dlq_growth_alert_seconds of the last alert raises nothing (a burst is one alert)');
update private.dlq_monitor set alerted_at = now() - interval '11 minutes';
select is((select (d.alert, d.previous_depth)::text from private.decide_dlq_alert(1000) d),
  '(dlq_grew,3)',
  'growth after the quiet period alerts again, from the depth the last alert reported, not the last check''s');
select is((select alerted_depth from private.dlq_monitor), 1000, 'the alerted depth is remembered');
update private.dlq_monitor set alerted_at = now() - interval '11 minutes';
select is((private.decide_dlq_alert(1000)).alert, null, 'a steady depth is not growth');
update private.dlq_monitor set alerted_at = now() - interval '4 hours 1 minute';
select is((private.decide_dlq_alert(1000)).alert, 'dlq_reminder', 'a reminder after 4 hours');
select is((private.decide_dlq_alert(1000)).alert, null, 'and not again at once');
select is((private.decide_dlq_alert(0)).alert, null, 'one empty check is not enough to resolve');
select is((private.decide_dlq_alert(2)).alert, null,
  'dead letters again before resolving continue the same incident');
select is((private.decide_dlq_alert(0)).alert, null, 'empty once');
select is((private.decide_dlq_alert(0)).alert, 'dlq_resolved', 'empty twice in a row: resolved');
select is((private.decide_dlq_alert(0)).alert, null, 'resolved once only');
select is((select row(incident_since, alerted_at, empty_checks)::text from private.dlq_monitor),
  row(null::timestamptz, null::timestamptz, 0)::text, 'the incident is closed');
select throws_ok('select private.decide_dlq_alert(-1)', 'P0001',
  'decide_dlq_alert: depth must be a non-negative integer', 'a negative depth is refused');

-- Dead-lettered jobs: failed when the DLQ holds the last copy sent and no live worker has them.
insert into public.jobs (id, customer_id, package_size, status, attempts, error_message)
values ('00000000-0000-4000-8000-0000000000d1', 'c_dlq', 1, 'pending', 3, 'Directory rejected');
insert into private.outbox (job_id, delivered_at, message_id)
values ('00000000-0000-4000-8000-0000000000d1', now(), 'msg-d1');
insert into public.jobs (id, customer_id, package_size, status)
values ('00000000-0000-4000-8000-0000000000d2', 'c_dlq', 1, 'pending');
insert into private.outbox (job_id, delivered_at, message_id)
values ('00000000-0000-4000-8000-0000000000d2', now(), 'msg-d2-old'),
       ('00000000-0000-4000-8000-0000000000d2', now(), 'msg-d2-resent');
insert into public.jobs (id, customer_id, package_size, status, lease_token, leased_by, leased_at,
                         heartbeat_at)
values ('00000000-0000-4000-8000-0000000000d3', 'c_dlq', 1, 'in_progress', gen_random_uuid(),
        'w_live', now(), now());
insert into private.outbox (job_id, delivered_at, message_id)
values ('00000000-0000-4000-8000-0000000000d3', now(), 'msg-d3');

create temporary table seen as
select * from private.record_dead_letters('[
  {"job_id": "00000000-0000-4000-8000-0000000000d1", "message_id": "msg-d1", "receive_count": 4},
  {"job_id": "00000000-0000-4000-8000-0000000000d2", "message_id": "msg-d2-old", "receive_count": 4},
  {"job_id": "00000000-0000-4000-8000-0000000000d3", "message_id": "msg-d3", "receive_count": 4}]');
select is((select messages from seen where action = 'settled'), 1, 'one job marked dead-lettered');
select is(
  (select row(status, error_message, completed_at is not null)::text from public.jobs
    where id = '00000000-0000-4000-8000-0000000000d1'),
  row('failed', 'Dead-lettered (last error: Directory rejected)', true)::text,
  'failed, with the reason and its last error');
select is(
  (select event from public.queue_history where job_id = '00000000-0000-4000-8000-0000000000d1'),
  'dead_lettered', 'with a queue_history row');
select is((select status from public.jobs where id = '00000000-0000-4000-8000-0000000000d2'),
  'pending', 'a job sent again since is left alone (its newer message is on its way)');
select is((select status from public.jobs where id = '00000000-0000-4000-8000-0000000000d3'),
  'in_progress', 'a job a live worker holds is left alone');
select is((select array_agg(action || ':' || messages order by action) from seen),
  array['resent_since:1', 'running:1', 'settled:1'], 'each message is counted by what was done');
select is((select action from private.record_dead_letters(
             '[{"job_id": "00000000-0000-4000-8000-0000000000d1", "message_id": "msg-d1"}]')),
  'finished', 'marking is idempotent: seen again, the job is already finished');

-- Settling alerts.
select ok(private.raise_alert('dlq_triggered', '{"text": "t"}') > 0, 'an alert is stored');
select throws_ok($$select private.raise_alert('dlq_triggered', '{"blocks": []}')$$, '23514', null,
  'an alert needs a text fallback');
select isnt(private.claim_slack_delivery(30), null, 'a run takes the right to send');
select is(private.claim_slack_delivery(30), null, 'a second run does not, while the lease holds');
select private.settle_alert((select max(id) from private.alerts), 'misconfigured', null,
  'Slack webhook answered 404 no_team');
select is((select row(ok, detail)::text from private.integration_status where name = 'slack'),
  row(false, 'Slack webhook answered 404 no_team')::text, 'a 404 marks Slack misconfigured');
select ok((select delivered_at is null and available_at > now() + interval '14 minutes'
             from private.alerts order by id desc limit 1),
  'the alert is kept for later, at the longest backoff');
select private.settle_alert((select max(id) from private.alerts), 'rate_limited', 7, 'Slack 429');
select ok((select not_before between now() + interval '6 seconds' and now() + interval '8 seconds'
             from private.slack_delivery), 'Retry-After pauses every post');
select private.settle_alert((select max(id) from private.alerts), 'delivered');
select is((select row(delivered_at is not null, tries)::text
             from private.alerts order by id desc limit 1),
  row(true, 3)::text, 'delivered: recorded once, after three tries');
select is((select ok from private.integration_status where name = 'slack'), true,
  'and Slack is no longer reported misconfigured');
select private.release_slack_delivery();

-- Redrive: once per DLQ message.
select is((select outcome from private.redrive_job('msg-d1', '00000000-0000-4000-8000-0000000000d1')),
  'requeued', 'a dead-lettered job is put back');
select is((select row(status, completed_at, lease_token)::text from public.jobs
            where id = '00000000-0000-4000-8000-0000000000d1'),
  row('pending', null::timestamptz, null::uuid)::text, 'pending again, no lease');
select is((select outcome from private.redrive_job('msg-d1', '00000000-0000-4000-8000-0000000000d1')),
  'already_redriven', 'the same message again changes nothing');
select is((select count(*)::int from private.outbox o
            where o.job_id = '00000000-0000-4000-8000-0000000000d1' and o.delivered_at is null),
  1, 'one new outbox row, not two');

-- Schedule and access.
select is((select row(schedule, command)::text from cron.job where jobname = 'dlq-monitor'),
  row('* * * * *', $$select private.record_cron_result('dlq-monitor', jsonb_build_object('request_id', private.invoke_function('dlq-monitor')))$$)::text,
  'pg_cron calls dlq-monitor every minute through pg_net');
set local role anon;
select throws_ok('select private.decide_dlq_alert(0)', '42501', null, 'anon cannot run the monitor');
select throws_ok($$select private.record_dead_letters('[]')$$, '42501', null,
  'anon cannot mark jobs dead-lettered');
select throws_ok('select * from private.alerts', '42501', null, 'anon cannot read alerts');
reset role;

select * from finish();
rollback;
