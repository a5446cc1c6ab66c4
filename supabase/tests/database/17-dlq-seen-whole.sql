-- The DLQ seen whole: every dead letter recorded with what was done, rows of messages that left
-- removed, the summary an alert gives, redrive removing its rows, and the lost-message sweep.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(28);

delete from private.dead_letters;

insert into public.jobs (id, customer_id, package_size, status, attempts, error_message,
                         completed_at)
values ('00000000-0000-4000-8000-0000000000e1', 'c_flood', 1, 'pending', 3, 'boom', null),
       ('00000000-0000-4000-8000-0000000000e2', 'c_flood', 1, 'completed', 1, null, now());
insert into private.outbox (job_id, delivered_at, message_id)
values ('00000000-0000-4000-8000-0000000000e1', now(), 'msg-e1'),
       ('00000000-0000-4000-8000-0000000000e2', now(), 'msg-e2');

create temporary table walked as
select * from private.record_dead_letters('[
  {"message_id": "msg-e1", "job_id": "00000000-0000-4000-8000-0000000000e1", "customer_id": "c_flood", "receive_count": 4},
  {"message_id": "msg-e2", "job_id": "00000000-0000-4000-8000-0000000000e2", "customer_id": "c_flood", "receive_count": 4},
  {"message_id": "msg-x", "job_id": "00000000-0000-4000-8000-0000000000ff", "customer_id": "c_gone", "receive_count": 5},
  {"message_id": "msg-junk", "job_id": null, "customer_id": null, "receive_count": 7},
  {"message_id": "msg-junk", "job_id": null, "customer_id": null, "receive_count": 7}]');
select is((select array_agg(action || ':' || messages order by action) from walked),
  array['finished:1', 'not_a_job:1', 'settled:1', 'unknown_job:1'],
  'a walk''s batch is counted by what was done, a message read twice counted once');
select is((select array_agg(message_id || '=' || action order by message_id)
             from private.dead_letters),
  array['msg-e1=settled', 'msg-e2=finished', 'msg-junk=not_a_job', 'msg-x=unknown_job'],
  'every message has its row, with what was done');
select is((select row(job_id, customer_id, receive_count)::text from private.dead_letters
            where message_id = 'msg-junk'),
  row(null::uuid, null::text, 7)::text, 'a message that names no job is recorded too');
select is((select status from public.jobs where id = '00000000-0000-4000-8000-0000000000e1'),
  'failed', 'the job whose last copy is dead is settled');

select is((select action from private.record_dead_letters(
             '[{"message_id": "msg-e1", "job_id": "00000000-0000-4000-8000-0000000000e1", "receive_count": 6}]')),
  'finished', 'seen again: nothing new done');
select is((select row(action, receive_count)::text from private.dead_letters
            where message_id = 'msg-e1'),
  row('settled', 4)::text,
  'its row still says the monitor settled it, with the receive count it had when first seen');
select is((select customer_id from private.dead_letters where message_id = 'msg-e1'), 'c_flood',
  'the customer comes from the job when the message has none');

-- The summary an alert is built from.
select is((private.dead_letter_summary() ->> 'recorded')::int, 4, 'the summary counts every row');
select is(private.dead_letter_summary() -> 'by_action',
  '{"settled": 1, "finished": 1, "not_a_job": 1, "unknown_job": 1}'::jsonb, 'per action');
select is(private.dead_letter_summary() -> 'customers' -> 0,
  '{"customer_id": "c_flood", "letters": 2}'::jsonb, 'the customers with most dead letters first');
select is(private.dead_letter_summary() -> 'examples' -> 0 ->> 'message_id', 'msg-e1',
  'examples show settled jobs first');
select is(private.dead_letter_summary() -> 'examples' -> 0 ->> 'error',
  'Dead-lettered (last error: boom)', 'with the job''s error');

-- Rows of messages that left the DLQ go after a whole walk.
update private.dead_letters set last_seen_at = now() - interval '5 minutes'
 where message_id = 'msg-x';
select is(private.prune_dead_letters(now() - interval '1 minute'), 1,
  'a row the last whole walk did not see is removed');
select is((select count(*)::int from private.dead_letters where message_id = 'msg-x'), 0,
  'the message that left is no longer listed');

-- A redrive takes the row with the message.
select is((select outcome from private.redrive_job('msg-e1', '00000000-0000-4000-8000-0000000000e1')),
  'requeued', 'a settled job is redriven');
select is((select count(*)::int from private.dead_letters where message_id = 'msg-e1'), 0,
  'and its dead letter''s row is gone');
select is((select outcome from private.redrive_job('msg-y', '00000000-0000-4000-8000-0000000000fe')),
  'unknown_job', 'a message naming an unknown job is not redriven');

-- Jobs whose message is gone from both queues.
insert into public.jobs (id, customer_id, package_size, status, created_at, run_after)
values ('00000000-0000-4000-8000-0000000000f1', 'c_lost', 1, 'pending',
        now() - interval '4 hours', now() - interval '4 hours'),
       ('00000000-0000-4000-8000-0000000000f2', 'c_lost', 1, 'pending',
        now() - interval '10 minutes', now() - interval '10 minutes'),
       ('00000000-0000-4000-8000-0000000000f3', 'c_lost', 1, 'pending',
        now() - interval '4 hours', now() - interval '4 hours');
insert into private.outbox (job_id, delivered_at, message_id)
values ('00000000-0000-4000-8000-0000000000f1', now() - interval '4 hours', 'msg-f1'),
       ('00000000-0000-4000-8000-0000000000f2', now() - interval '10 minutes', 'msg-f2'),
       ('00000000-0000-4000-8000-0000000000f3', now() - interval '4 hours', 'msg-f3');
insert into private.dead_letters (message_id, job_id, customer_id, receive_count, action)
values ('msg-f3', '00000000-0000-4000-8000-0000000000f3', 'c_lost', 4, 'busy');
delete from public.worker_heartbeats;
select is(private.resend_lost_jobs(), 0,
  'no live worker: a long wait says nothing about the message, nothing is sent');
insert into public.worker_heartbeats (worker_id, last_heartbeat) values ('w_pgtap', now());
select is(private.resend_lost_jobs(), 1,
  'one job lost its message: the one waiting for hours whose copy is in neither queue');
select is((select count(*)::int from private.outbox
            where job_id = '00000000-0000-4000-8000-0000000000f1' and delivered_at is null), 1,
  'it is sent again through the outbox');
select is((select event from public.queue_history
            where job_id = '00000000-0000-4000-8000-0000000000f1' order by id desc limit 1),
  'resent', 'with a history row');
select is(private.resend_lost_jobs(), 0, 'the sweep again sends nothing twice');

-- One reader of the DLQ at a time.
create temporary table lease as select private.claim_dlq(60) as until;
select isnt((select until from lease), null, 'a check takes the right to walk the DLQ');
select is(private.claim_dlq(60), null, 'a second check does not, while the lease holds');
select private.release_dlq('2000-01-01');
select is(private.claim_dlq(60), null, 'a release with another lease ends nothing');
select private.release_dlq((select until from lease));
select isnt(private.claim_dlq(60), null, 'the holder''s release frees it for the next check');
update private.dlq_monitor set held_until = null;

set local role anon;
select throws_ok('select private.resend_lost_jobs()', '42501', null,
  'anon cannot run the sweep');
select throws_ok('select private.claim_dlq(60)', '42501', null,
  'anon cannot hold the DLQ');
reset role;

select * from finish();
rollback;
