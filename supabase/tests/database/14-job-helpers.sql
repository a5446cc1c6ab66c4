-- The ideas every job path shares, each written once: the staleness cutoff
-- (private.stale_before), retry backoff (private.backoff_seconds), revoking a lease (trigger
-- jobs_revoke_lease: lease_token = null clears the whole lease) and freeing the workers of jobs
-- that left in_progress (private.free_workers).
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(11);

update private.settings set stale_threshold_seconds = 90;
select is(private.stale_before(), now() - interval '90 seconds',
  'the cutoff is now minus stale_threshold_seconds');
update private.settings set stale_threshold_seconds = 600;
select is(private.stale_before(), now() - interval '10 minutes', 'and follows the setting');

select is(private.backoff_seconds(30, 3600, 1), 30, 'the first failure waits base seconds');
select is(private.backoff_seconds(30, 3600, 3), 120, 'each further failure doubles the wait');
select is(private.backoff_seconds(30, 100, 3), 100, 'never more than the cap');
select is(private.backoff_seconds(30, 3600, 100), 3600,
  'a hundred failures neither overflow nor pass the cap');
select is(private.backoff_seconds(2, 300, 0), 2, 'no failure yet counts as the first');

-- held_job: in progress, leased by worker_h, which names it as its current job.
insert into public.jobs (id, customer_id, package_size, status, lease_token, leased_by, leased_at,
                         heartbeat_at)
values ('e0000000-0000-4000-8000-000000000001', 'cust_helpers', 1, 'in_progress',
        gen_random_uuid(), 'worker_h', now(), now());
insert into public.worker_heartbeats (worker_id, current_job_id)
values ('worker_h', 'e0000000-0000-4000-8000-000000000001');

update public.jobs set heartbeat_at = now() where id = 'e0000000-0000-4000-8000-000000000001';
update public.jobs set status = 'pending', lease_token = null
 where id = 'e0000000-0000-4000-8000-000000000001';
select is(
  (select row(lease_token, leased_by, leased_at, heartbeat_at)::text from public.jobs
    where id = 'e0000000-0000-4000-8000-000000000001'),
  row(null::uuid, null::text, null::timestamptz, null::timestamptz)::text,
  'setting lease_token to null revokes the whole lease');
select private.free_workers(array['e0000000-0000-4000-8000-000000000001'::uuid]);
select is((select current_job_id from public.worker_heartbeats where worker_id = 'worker_h'),
  null::uuid, 'free_workers() clears the job from its worker');

-- retried_job: fail_job's retry keeps the lease token (a retried call is recognised).
insert into public.jobs (id, customer_id, package_size, status, lease_token, leased_by, leased_at)
values ('e0000000-0000-4000-8000-000000000002', 'cust_helpers', 1, 'in_progress',
        'e0000000-0000-4000-8000-0000000000ff', 'worker_r', now());
insert into public.worker_heartbeats (worker_id, current_job_id)
values ('worker_r', 'e0000000-0000-4000-8000-000000000002');
update public.jobs set status = 'pending' where id = 'e0000000-0000-4000-8000-000000000002';
select is(
  (select row(lease_token, leased_by)::text from public.jobs
    where id = 'e0000000-0000-4000-8000-000000000002'),
  row('e0000000-0000-4000-8000-0000000000ff'::uuid, 'worker_r'::text)::text,
  'a status change alone does not revoke the lease');
select is((select current_job_id from public.worker_heartbeats where worker_id = 'worker_r'),
  'e0000000-0000-4000-8000-000000000002'::uuid, 'nor free the worker: that is explicit');

select * from finish();
rollback;
