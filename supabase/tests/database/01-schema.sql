-- The base schema: the tables operators know, their columns, and the rules a row must follow.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(18);

select has_table('public', 'jobs', 'jobs exists');
select has_table('public', 'worker_heartbeats', 'worker_heartbeats exists');
select has_table('public', 'queue_history', 'queue_history exists');

select columns_are('public', 'jobs', array[
  'id', 'customer_id', 'package_size', 'priority_level', 'status', 'attempts', 'error_message',
  'created_at', 'updated_at', 'completed_at', 'payload', 'idempotency_key', 'result', 'run_after',
  'lease_token', 'leased_by', 'leased_at', 'heartbeat_at', 'stale_recoveries', 'progress',
  'priority_tier', 'lane', 'capped_at'
], 'jobs has exactly the documented columns');
select columns_are('public', 'worker_heartbeats',
  array['worker_id', 'current_job_id', 'last_heartbeat'],
  'worker_heartbeats has exactly the documented columns');
select col_is_pk('public', 'worker_heartbeats', 'worker_id', 'one heartbeat row per worker');

select is(
  (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname in ('public', 'private') and c.relkind in ('r', 'p') and not c.relrowsecurity),
  0,
  'every table in public and private has row level security enabled');

select is(
  (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p')
      and obj_description(c.oid, 'pg_class') is null),
  0,
  'every table in public has a comment');

-- Fixture: a fresh pending job.
insert into public.jobs (id, customer_id, package_size)
values ('10000000-0000-4000-8000-000000000001', 'customer_fixture', 10);

select is(
  (select status from public.jobs where id = '10000000-0000-4000-8000-000000000001'),
  'pending', 'a new job starts pending');
select is(
  (select attempts from public.jobs where id = '10000000-0000-4000-8000-000000000001'),
  0, 'a new job has no attempts');

select throws_ok(
  $$insert into public.jobs (customer_id, package_size, status) values ('c', 1, 'processing')$$,
  '23514', null, 'an unknown status is refused');
select throws_ok(
  $$insert into public.jobs (customer_id, package_size) values ('c', 0)$$,
  '23514', null, 'a package size of zero is refused');
select throws_ok(
  $$update public.jobs set status = 'completed' where id = '10000000-0000-4000-8000-000000000001'$$,
  '23514', null, 'a job cannot be completed without a completion time');
select throws_ok(
  $$update public.jobs set status = 'in_progress' where id = '10000000-0000-4000-8000-000000000001'$$,
  '23514', null, 'a job cannot be in progress without a lease');
select throws_ok(
  $$insert into public.jobs (customer_id, package_size, payload) values ('c', 1, '[1]')$$,
  '23514', null, 'a payload must be a JSON object');
select throws_ok(
  $$insert into public.queue_history (job_id, event) values ('10000000-0000-4000-8000-000000000001', 'Bad Event')$$,
  '23514', null, 'history events are snake_case names');

-- updated_at moves on every update (the transaction's now() is fixed, so back-date first).
update public.jobs set updated_at = now() - interval '1 hour', priority_level = 1
 where id = '10000000-0000-4000-8000-000000000001';
select is(
  (select updated_at from public.jobs where id = '10000000-0000-4000-8000-000000000001'),
  now(), 'updating a job sets updated_at');

delete from public.jobs where id = '10000000-0000-4000-8000-000000000001';
select is(
  (select count(*)::int from public.queue_history
    where job_id = '10000000-0000-4000-8000-000000000001'),
  0, 'deleting a job deletes its history');

select * from finish();
rollback;
