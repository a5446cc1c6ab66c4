-- Row level security and grants: anon and authenticated can neither read nor write any job
-- table; service_role can.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(32);

-- Fixture: one row in each table, written as the owner.
insert into public.jobs (id, customer_id, package_size)
values ('20000000-0000-4000-8000-000000000001', 'customer_fixture', 10);
insert into public.worker_heartbeats (worker_id, current_job_id)
values ('worker_fixture', '20000000-0000-4000-8000-000000000001');
insert into public.queue_history (job_id, event)
values ('20000000-0000-4000-8000-000000000001', 'enqueued');

set local role anon;
select throws_ok('select * from public.jobs', '42501', null, 'anon cannot read jobs');
select throws_ok('select * from public.worker_heartbeats', '42501', null,
  'anon cannot read worker_heartbeats');
select throws_ok('select * from public.queue_history', '42501', null,
  'anon cannot read queue_history');
select throws_ok($$insert into public.jobs (customer_id, package_size) values ('x', 1)$$,
  '42501', null, 'anon cannot insert jobs');
select throws_ok($$update public.jobs set status = 'failed'$$, '42501', null,
  'anon cannot update jobs');
select throws_ok('delete from public.jobs', '42501', null, 'anon cannot delete jobs');
select throws_ok($$insert into public.worker_heartbeats (worker_id) values ('w')$$, '42501', null,
  'anon cannot write worker_heartbeats');
select throws_ok('delete from public.queue_history', '42501', null,
  'anon cannot delete queue_history');
reset role;

set local role authenticated;
select throws_ok('select * from public.jobs', '42501', null, 'authenticated cannot read jobs');
select throws_ok('select * from public.worker_heartbeats', '42501', null,
  'authenticated cannot read worker_heartbeats');
select throws_ok('select * from public.queue_history', '42501', null,
  'authenticated cannot read queue_history');
select throws_ok($$insert into public.jobs (customer_id, package_size) values ('x', 1)$$,
  '42501', null, 'authenticated cannot insert jobs');
select throws_ok($$update public.jobs set status = 'failed'$$, '42501', null,
  'authenticated cannot update jobs');
select throws_ok('delete from public.jobs', '42501', null, 'authenticated cannot delete jobs');
select throws_ok($$insert into public.queue_history (job_id, event)
                   values ('20000000-0000-4000-8000-000000000001', 'x')$$, '42501', null,
  'authenticated cannot write queue_history');
reset role;

set local role service_role;
select is((select count(*)::int from public.jobs
            where id = '20000000-0000-4000-8000-000000000001'), 1,
  'service_role reads jobs');
select is((select count(*)::int from public.worker_heartbeats
            where worker_id = 'worker_fixture'), 1,
  'service_role reads worker_heartbeats');
select lives_ok($$update public.jobs set priority_level = 3
                   where id = '20000000-0000-4000-8000-000000000001'$$,
  'service_role updates jobs');
reset role;

select is(
  (select count(*)::int from information_schema.role_table_grants
    where table_schema in ('public', 'private') and grantee in ('anon', 'authenticated')),
  0, 'anon and authenticated hold no grant on any table');

set local role anon;
select throws_ok('select private.prune_cron_history()', '42501', null,
  'anon cannot call private helpers');
select throws_ok('select * from private.outbox', '42501', null, 'anon cannot read the outbox');
reset role;

-- The worker contract: service_role only.
select is(
  (select array_agg(p.proname::text order by p.proname)
     from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'public'
      and p.proname in ('enqueue_job', 'claim_job', 'heartbeat', 'complete_job', 'fail_job',
                        'release_job', 'claim_jobs', 'heartbeat_jobs', 'complete_jobs')
      and has_function_privilege('service_role', p.oid, 'execute')
      and not has_function_privilege('anon', p.oid, 'execute')
      and not has_function_privilege('authenticated', p.oid, 'execute')
      and not has_function_privilege('public', p.oid, 'execute')),
  array['claim_job', 'claim_jobs', 'complete_job', 'complete_jobs', 'enqueue_job', 'fail_job',
        'heartbeat', 'heartbeat_jobs', 'release_job'],
  'every worker function is executable by service_role and nobody else');

set local role anon;
select throws_ok($$select public.enqueue_job('c', 1)$$, '42501', null, 'anon cannot enqueue');
select throws_ok($$select public.claim_job(gen_random_uuid(), 'w')$$, '42501', null,
  'anon cannot claim');
select throws_ok($$select public.heartbeat('w')$$, '42501', null, 'anon cannot heartbeat');
reset role;
set local role authenticated;
select throws_ok($$select public.complete_job(gen_random_uuid(), gen_random_uuid())$$, '42501',
  null, 'authenticated cannot complete jobs');
select throws_ok($$select public.fail_job(gen_random_uuid(), gen_random_uuid(), 'x')$$, '42501',
  null, 'authenticated cannot fail jobs');
select throws_ok($$select public.release_job(gen_random_uuid(), gen_random_uuid())$$, '42501',
  null, 'authenticated cannot release jobs');
reset role;

set local role service_role;
select is((public.enqueue_job('customer_fixture', 1)).outcome, 'created',
  'service_role enqueues');
select is((public.claim_job(gen_random_uuid(), 'worker_fixture')).outcome, 'unknown_job',
  'service_role claims');
select throws_ok('select * from private.settings', '42501', null,
  'service_role cannot reach private tables directly');
reset role;

select is(
  (select count(*)::int from information_schema.routine_privileges
    where routine_schema = 'private' and grantee in ('anon', 'authenticated', 'service_role',
                                                      'PUBLIC')),
  0, 'no API role may execute a private function');

select * from finish();
rollback;
