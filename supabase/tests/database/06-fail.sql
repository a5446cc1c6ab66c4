-- fail_job(): retryable failures go back to pending with exponential backoff until
-- max_attempts, then failed; permanent failures fail at once; repeated calls are harmless.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(16);

update private.settings
   set max_attempts = 3, retry_base_seconds = 30, retry_max_seconds = 100;

insert into public.jobs (id, customer_id, package_size)
values ('60000000-0000-4000-8000-000000000001', 'cust_fail', 1),
       ('60000000-0000-4000-8000-000000000002', 'cust_fail', 1);

-- Claims ignore run_after here by moving it back: the transaction's clock does not advance.
create function pg_temp.claim(job uuid) returns uuid language sql as $$
  update public.jobs set run_after = now() - interval '1 second' where id = job;
  select (public.claim_job(job, 'worker_f')).lease;
$$;

create temporary table f1 as
  select * from public.fail_job('60000000-0000-4000-8000-000000000001',
                                pg_temp.claim('60000000-0000-4000-8000-000000000001'), 'boom 1');
select is((select outcome from f1), 'retrying', 'a first retryable failure retries');
select is((select retry_in_seconds from f1), 30, 'after retry_base_seconds');
select is(
  (select (status, error_message) from public.jobs where id = '60000000-0000-4000-8000-000000000001'),
  row('pending'::text, 'boom 1'::text), 'the job is pending again with the error recorded');
select is(
  (select run_after from public.jobs where id = '60000000-0000-4000-8000-000000000001'),
  now() + interval '30 seconds', 'it is not due before the backoff');
select is(
  (public.fail_job('60000000-0000-4000-8000-000000000001',
                   (select lease_token from public.jobs
                     where id = '60000000-0000-4000-8000-000000000001'), 'boom 1')).outcome,
  'retrying', 'repeating the call gives the same answer');
select is((select count(*)::int from public.queue_history
            where job_id = '60000000-0000-4000-8000-000000000001' and event = 'retry_scheduled'),
  1, 'and writes no second history row');

select is((public.fail_job('60000000-0000-4000-8000-000000000001',
                           pg_temp.claim('60000000-0000-4000-8000-000000000001'), 'boom 2'))
            .retry_in_seconds,
  60, 'the second retry waits twice as long');
create temporary table f3 as
  select * from public.fail_job('60000000-0000-4000-8000-000000000001',
                                pg_temp.claim('60000000-0000-4000-8000-000000000001'), 'boom 3');
select is((select outcome from f3), 'failed', 'the failure on the last attempt is final');
select is((select attempt from f3), 3, 'after max_attempts claims');
select is(
  (select (status, error_message) from public.jobs where id = '60000000-0000-4000-8000-000000000001'),
  row('failed'::text, 'boom 3'::text), 'the job is failed with the last error');
select isnt((select completed_at from public.jobs where id = '60000000-0000-4000-8000-000000000001'),
  null::timestamptz, 'a failed job has a completion time');
select is((public.claim_job('60000000-0000-4000-8000-000000000001', 'worker_f')).outcome,
  'finished', 'a failed job is not claimed again');
select is(
  (select array_agg(event order by id) from public.queue_history
    where job_id = '60000000-0000-4000-8000-000000000001'),
  array['claimed', 'retry_scheduled', 'claimed', 'retry_scheduled', 'claimed', 'failed'],
  'history shows every attempt');

select is((public.fail_job('60000000-0000-4000-8000-000000000002',
                           pg_temp.claim('60000000-0000-4000-8000-000000000002'),
                           'bad input', retryable => false)).outcome,
  'failed', 'a permanent failure fails at once');

update private.settings set max_attempts = 10;
update public.jobs set status = 'pending', completed_at = null, attempts = 6
 where id = '60000000-0000-4000-8000-000000000002';
select is((public.fail_job('60000000-0000-4000-8000-000000000002',
                           pg_temp.claim('60000000-0000-4000-8000-000000000002'), 'late'))
            .retry_in_seconds,
  100, 'the backoff is capped at retry_max_seconds');
select throws_ok($$update private.settings set retry_max_seconds = 50000$$, '23514', null,
  'a retry delay SQS cannot honour (over 12 h) is refused');

select * from finish();
rollback;
