-- enqueue_job(): one job, one outbox row, one history row per new job; idempotent per
-- (customer, key); a reused key with other fields is a conflict; bad input writes nothing.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(15);

create temporary table first_call as
  select * from public.enqueue_job('cust_enqueue', 25, 3, '{"site": "example"}', 'key-1');

select is((select outcome from first_call), 'created', 'a new job is created');
select is((select status from first_call), 'pending', 'it starts pending');
select is(
  (select count(*)::int from private.outbox o join first_call f on o.job_id = f.job_id
    where o.id = f.outbox_id and o.delivered_at is null),
  1, 'its outbox row is written in the same transaction');
select is(
  (select array_agg(event) from public.queue_history h join first_call f on h.job_id = f.job_id),
  array['enqueued'], 'one history row: enqueued');
select is(
  (select payload from public.jobs j join first_call f on j.id = f.job_id),
  '{"site": "example"}'::jsonb, 'the payload is stored');

create temporary table replay as
  select * from public.enqueue_job('cust_enqueue', 25, 3, '{"site": "example"}', 'key-1');
select is((select outcome from replay), 'existing', 'the same key and fields replay');
select is((select job_id from replay), (select job_id from first_call), 'the same job comes back');
select is((select outbox_id from replay), null::bigint, 'a replay writes no outbox row');
select is(
  (select count(*)::int from public.jobs where customer_id = 'cust_enqueue'), 1,
  'still one job');

select is((public.enqueue_job('cust_enqueue', 26, 3, '{"site": "example"}', 'key-1')).outcome,
  'conflict', 'the same key with other fields is a conflict');
select isnt((public.enqueue_job('cust_other', 25, 3, '{"site": "example"}', 'key-1')).job_id,
  (select job_id from first_call), 'keys are scoped to a customer');
select is((public.enqueue_job('cust_enqueue', 25, 3)).outcome, 'created',
  'without a key every call creates a job');

select throws_ok($$select public.enqueue_job('cust_bad', 0)$$, '23514', null,
  'package_size 0 is refused');
select throws_ok($$select public.enqueue_job('cust_bad', 1, 11)$$, '23514', null,
  'priority above 10 is refused');
select is((select count(*)::int from public.jobs where customer_id = 'cust_bad'), 0,
  'refused calls write nothing');

select * from finish();
rollback;
