-- Stale-job recovery: only in-progress jobs whose lease went silent past the threshold change;
-- they go back to pending (re-sent through the outbox) with their lease revoked, or fail at the
-- recovery cap. Scenario fixtures, one per case.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(26);

update private.settings set stale_threshold_seconds = 90, max_stale_recoveries = 3;
delete from private.outbox;
delete from net.http_request_queue;

insert into public.jobs (id, customer_id, package_size, status, attempts, lease_token, leased_by,
                         leased_at, heartbeat_at, stale_recoveries, completed_at)
values
  -- fresh_heartbeat: beat 10 s ago
  ('90000000-0000-4000-8000-00000000000a', 'cust_stale', 1, 'in_progress', 1,
   '90000000-0000-4000-8000-0000000000aa', 'worker_fresh', now() - interval '10 minutes',
   now() - interval '10 seconds', 0, null),
  -- stale_heartbeat: last beat 5 minutes ago
  ('90000000-0000-4000-8000-00000000000b', 'cust_stale', 1, 'in_progress', 1,
   '90000000-0000-4000-8000-0000000000bb', 'worker_dead', now() - interval '10 minutes',
   now() - interval '5 minutes', 0, null),
  -- no_heartbeat_ever: claimed 5 minutes ago, never a beat
  ('90000000-0000-4000-8000-00000000000c', 'cust_stale', 1, 'in_progress', 2,
   '90000000-0000-4000-8000-0000000000cc', 'worker_silent', now() - interval '5 minutes',
   null, 1, null),
  -- just_claimed: claimed 10 s ago, no beat yet
  ('90000000-0000-4000-8000-00000000000d', 'cust_stale', 1, 'in_progress', 1,
   '90000000-0000-4000-8000-0000000000dd', 'worker_new', now() - interval '10 seconds',
   null, 0, null),
  -- completed_long_ago: old heartbeat, but finished
  ('90000000-0000-4000-8000-00000000000e', 'cust_stale', 1, 'completed', 1,
   '90000000-0000-4000-8000-0000000000ee', 'worker_done', now() - interval '1 hour',
   now() - interval '1 hour', 0, now() - interval '1 hour'),
  -- at_recovery_cap: stale for the fourth time
  ('90000000-0000-4000-8000-00000000000f', 'cust_stale', 1, 'in_progress', 4,
   '90000000-0000-4000-8000-0000000000ff', 'worker_killed', now() - interval '10 minutes',
   now() - interval '3 minutes', 3, null);
insert into public.worker_heartbeats (worker_id, current_job_id, last_heartbeat)
values ('worker_dead', '90000000-0000-4000-8000-00000000000b', now() - interval '5 minutes');

select is(
  (select array_agg(job_id order by job_id) from public.find_stale_jobs()),
  array['90000000-0000-4000-8000-00000000000b', '90000000-0000-4000-8000-00000000000c',
        '90000000-0000-4000-8000-00000000000f']::uuid[],
  'find_stale_jobs() finds the silent leases, including one that never beat');
select is((select count(*)::int from public.find_stale_jobs(interval '10 minutes')), 0,
  'with the old 10-minute threshold none is stale yet');
select is((select count(*)::int from public.stale_jobs_view), 3,
  'stale_jobs_view shows the same jobs');
select is(
  (select worker_id from public.find_stale_jobs() where job_id = '90000000-0000-4000-8000-00000000000b'),
  'worker_dead', 'and which worker went silent');

select is((select row(recovered, failed) from public.recover_stale_jobs()), row(2, 1),
  'recover_stale_jobs() recovers two and fails the one at the cap');

select is(
  (select (status, error_message, lease_token, leased_by, stale_recoveries)
     from public.jobs where id = '90000000-0000-4000-8000-00000000000b'),
  row('pending'::text, 'Recovered from stale state (no worker heartbeat)'::text, null::uuid,
      null::text, 1),
  'a stale job is pending again, lease revoked, with the known message');
select is((select status from public.jobs where id = '90000000-0000-4000-8000-00000000000c'),
  'pending', 'a job that never beat is recovered too');
select is((select stale_recoveries from public.jobs where id = '90000000-0000-4000-8000-00000000000c'),
  2, 'its recovery count grows');
select is(
  (select (status, lease_token) from public.jobs where id = '90000000-0000-4000-8000-00000000000a'),
  row('in_progress'::text, '90000000-0000-4000-8000-0000000000aa'::uuid),
  'a fresh heartbeat is left alone');
select is(
  (select (status, lease_token) from public.jobs where id = '90000000-0000-4000-8000-00000000000d'),
  row('in_progress'::text, '90000000-0000-4000-8000-0000000000dd'::uuid),
  'a job claimed moments ago is left alone');
select is((select status from public.jobs where id = '90000000-0000-4000-8000-00000000000e'),
  'completed', 'a completed job is left alone');
select is(
  (select (status, completed_at is not null, lease_token)
     from public.jobs where id = '90000000-0000-4000-8000-00000000000f'),
  row('failed'::text, true, null::uuid), 'the job at the cap is failed, lease revoked');
select matches(
  (select error_message from public.jobs where id = '90000000-0000-4000-8000-00000000000f'),
  'went stale 4 times', 'with the reason');

select is(
  (select array_agg(event || ':' || worker_id order by job_id) from public.queue_history
    where job_id in ('90000000-0000-4000-8000-00000000000b', '90000000-0000-4000-8000-00000000000c',
                     '90000000-0000-4000-8000-00000000000f')),
  array['recovered:worker_dead', 'recovered:worker_silent', 'failed:worker_killed'],
  'one history row per job, naming the silent worker');
select is(
  (select array_agg(job_id order by job_id) from private.outbox where delivered_at is null),
  array['90000000-0000-4000-8000-00000000000b', '90000000-0000-4000-8000-00000000000c']::uuid[],
  'the recovered jobs, and only they, are queued for SQS again');
select is(
  (select count(*)::int from net.http_request_queue where url like '%/functions/v1/dispatch'), 1,
  'dispatch is called right away');
select is((select current_job_id from public.worker_heartbeats where worker_id = 'worker_dead'),
  null::uuid, 'the dead worker no longer holds the job');

-- Fencing: the dead worker wakes up late.
select ok(not public.heartbeat('worker_dead', '90000000-0000-4000-8000-00000000000b',
                               '90000000-0000-4000-8000-0000000000bb'),
  'its late heartbeat is refused');
select ok(not public.complete_job('90000000-0000-4000-8000-00000000000b',
                                  '90000000-0000-4000-8000-0000000000bb'),
  'its late completion is refused');
select is((public.fail_job('90000000-0000-4000-8000-00000000000f',
                           '90000000-0000-4000-8000-0000000000ff', 'late')).outcome, 'lease_lost',
  'a late failure on the capped job is refused');

select is((select row(recovered, failed) from public.recover_stale_jobs()), row(0, 0),
  'running again changes nothing');

select is((select schedule from cron.job where jobname = 'recover-stale-jobs'), '* * * * *',
  'recover-stale-jobs runs every minute');
select is((select command from cron.job where jobname = 'recover-stale-jobs'),
  $$select private.record_cron_result('recover-stale-jobs', (select to_jsonb(r) from public.recover_stale_jobs() r))$$,
  'and calls recover_stale_jobs(), recording the counts');

set local role anon;
select throws_ok('select * from public.recover_stale_jobs()', '42501', null,
  'anon cannot run the sweep');
select throws_ok('select * from public.stale_jobs_view', '42501', null,
  'anon cannot read stale_jobs_view');
reset role;
set local role authenticated;
select throws_ok('select * from public.find_stale_jobs()', '42501', null,
  'authenticated cannot list stale jobs');
reset role;

select * from finish();
rollback;
