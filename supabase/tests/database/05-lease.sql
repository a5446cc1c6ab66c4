-- The lease: claim_job refuses clearly, heartbeat tells a worker whether it still holds the job,
-- and only the current lease may complete, fail or release it (fencing).
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(30);

-- Fixtures, named by scenario.
insert into public.jobs (id, customer_id, package_size, status, completed_at)
values ('50000000-0000-4000-8000-00000000000c', 'cust_lease', 1, 'completed', now());
insert into public.jobs (id, customer_id, package_size, run_after)
values ('50000000-0000-4000-8000-00000000000f', 'cust_lease', 1, now() + interval '90 seconds');
insert into public.jobs (id, customer_id, package_size)
values ('50000000-0000-4000-8000-000000000001', 'cust_lease', 1);

select is((public.claim_job('50000000-0000-4000-8000-0000000000ff', 'w1')).outcome, 'unknown_job',
  'an unknown job is refused as unknown_job');
select is((public.claim_job('50000000-0000-4000-8000-00000000000c', 'w1')).outcome, 'finished',
  'a completed job is refused as finished');
select is((public.claim_job('50000000-0000-4000-8000-00000000000f', 'w1')).outcome, 'not_due',
  'a job waiting for its retry is refused as not_due');
select ok((public.claim_job('50000000-0000-4000-8000-00000000000f', 'w1')).retry_in_seconds
          between 89 and 90, 'not_due says how long to wait');

create temporary table lease1 as
  select * from public.claim_job('50000000-0000-4000-8000-000000000001', 'worker_a');
select is((select outcome from lease1), 'claimed', 'a pending job is claimed');
select is((select attempt from lease1), 1, 'the first claim is attempt 1');
select isnt((select lease from lease1), null::uuid, 'the claim carries a lease token');
select is(
  (select (status, leased_by) from public.jobs where id = '50000000-0000-4000-8000-000000000001'),
  row('in_progress'::text, 'worker_a'::text), 'the job is in progress, held by worker_a');
select is(
  (select current_job_id from public.worker_heartbeats where worker_id = 'worker_a'),
  '50000000-0000-4000-8000-000000000001'::uuid, 'worker_a is recorded on the job');
select is((public.claim_job('50000000-0000-4000-8000-000000000001', 'worker_b')).outcome, 'leased',
  'a held job is refused to another worker');

select ok(public.heartbeat('worker_a', '50000000-0000-4000-8000-000000000001',
                           (select lease from lease1)), 'the holder''s heartbeat holds');
select isnt((select heartbeat_at from public.jobs where id = '50000000-0000-4000-8000-000000000001'),
  null::timestamptz, 'the heartbeat is recorded on the job');
select ok(not public.heartbeat('worker_a', '50000000-0000-4000-8000-000000000001',
                               gen_random_uuid()), 'a wrong lease does not hold');
select ok(public.heartbeat('idle_worker'), 'an idle worker''s heartbeat is recorded');
select is((select current_job_id from public.worker_heartbeats where worker_id = 'idle_worker'),
  null::uuid, 'an idle worker has no current job');

-- Fencing: worker_a gives the job back, worker_b claims it; worker_a's lease is dead.
select ok(public.release_job('50000000-0000-4000-8000-000000000001', (select lease from lease1)),
  'the holder may release');
select ok(not public.release_job('50000000-0000-4000-8000-000000000001',
                                 (select lease from lease1)), 'releasing twice does nothing');
create temporary table lease2 as
  select * from public.claim_job('50000000-0000-4000-8000-000000000001', 'worker_b');
select is((select attempt from lease2), 2, 'the next claim is attempt 2');
select ok(not public.heartbeat('worker_a', '50000000-0000-4000-8000-000000000001',
                               (select lease from lease1)), 'the old lease''s heartbeat is refused');
select ok(not public.complete_job('50000000-0000-4000-8000-000000000001',
                                  (select lease from lease1)), 'the old lease cannot complete');
select is((public.fail_job('50000000-0000-4000-8000-000000000001', (select lease from lease1),
                           'late failure')).outcome, 'lease_lost',
  'the old lease cannot fail the job');
select is((select status from public.jobs where id = '50000000-0000-4000-8000-000000000001'),
  'in_progress', 'the late calls changed nothing');

select ok(public.complete_job('50000000-0000-4000-8000-000000000001', (select lease from lease2),
                              '{"ok": true}'), 'the current lease completes');
select ok(public.complete_job('50000000-0000-4000-8000-000000000001', (select lease from lease2),
                              '{"ok": true}'), 'completing again with it is harmless');
select is(
  (select (status, result) from public.jobs where id = '50000000-0000-4000-8000-000000000001'),
  row('completed'::text, '{"ok": true}'::jsonb), 'the job is completed with its result');
select isnt((select completed_at from public.jobs where id = '50000000-0000-4000-8000-000000000001'),
  null::timestamptz, 'completed_at is set');
select is((select current_job_id from public.worker_heartbeats where worker_id = 'worker_b'),
  null::uuid, 'worker_b is free again');
select ok(not public.heartbeat('worker_b', '50000000-0000-4000-8000-000000000001',
                               (select lease from lease2)), 'a finished job''s lease no longer holds');
select is(
  (select array_agg(event order by id) from public.queue_history
    where job_id = '50000000-0000-4000-8000-000000000001'),
  array['claimed', 'released', 'claimed', 'completed'],
  'one history row per state change, none for refused calls');
select is(
  (select array_agg(worker_id order by id) from public.queue_history
    where job_id = '50000000-0000-4000-8000-000000000001'),
  array['worker_a', 'worker_a', 'worker_b', 'worker_b'], 'history names the worker');

select * from finish();
rollback;
