-- enqueue_requests(): many callers' requests in one call, each all or nothing. In one call: a new
-- bulk with a batch key, a bulk the jobs policy refuses (its batch key is not kept), an item key
-- reused for other fields (a conflict naming the item), a replayed batch, and a single job whose
-- item key was used before with the same fields. Outbox rows are reserved; settle_outbox keeps a
-- row's first delivery; enqueue_job keeps nulls inside a payload.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(24);

-- Before the call: a job with item key 'k1', and a batch 'b0' of one job.
create temporary table earlier as
  select * from private.enqueue_requests('[
    {"customer_id": "cust_er", "items": [{"package_size": 1, "priority_level": 0, "idempotency_key": "k1"}]},
    {"customer_id": "cust_er", "items": [{"package_size": 9, "priority_level": 9}], "batch_key": "b0"}
  ]'::jsonb, 0);
select is((select count(*)::int from earlier where outcome = 'created'), 2, 'two jobs before');

create temporary table answer as
  select * from private.enqueue_requests(jsonb_build_array(
    jsonb_build_object('customer_id', 'cust_er', 'batch_key', 'b1',
      'items', '[{"package_size": 2, "priority_level": 1}, {"package_size": 3, "priority_level": 1, "payload": {"x": 1}}]'::jsonb,
      'limit_key', encode(sha256('er-a'::bytea), 'hex'), 'limit_count', 100, 'limit_period_ms', 60000),
    jsonb_build_object('customer_id', 'cust_er_poor', 'batch_key', 'b3',
      'items', '[{"package_size": 2, "priority_level": 1}, {"package_size": 2, "priority_level": 1}, {"package_size": 2, "priority_level": 1}]'::jsonb,
      'limit_key', encode(sha256('er-b'::bytea), 'hex'), 'limit_count', 2, 'limit_period_ms', 60000),
    jsonb_build_object('customer_id', 'cust_er', 'batch_key', 'b2',
      'items', '[{"package_size": 5, "priority_level": 0}, {"package_size": 2, "priority_level": 0, "idempotency_key": "k1"}]'::jsonb),
    jsonb_build_object('customer_id', 'cust_er', 'batch_key', 'b0',
      'items', '[{"package_size": 9, "priority_level": 9}]'::jsonb),
    jsonb_build_object('customer_id', 'cust_er',
      'items', '[{"package_size": 1, "priority_level": 0, "idempotency_key": "k1"}]'::jsonb)
  ), 15);

select results_eq(
  $$select request, item, outcome from answer order by request, item$$,
  $$values (0, 0, 'created'), (0, 1, 'created'), (1, null, 'rate_limited'), (2, 1, 'conflict'),
           (3, 0, 'existing'), (4, 0, 'existing')$$,
  'one answer per request, in item order: created, refused, conflict, replays');
select is((select limit_remaining from answer where request = 0 and item = 0), 98,
  'the new bulk was charged 2 jobs');
select ok((select limit_retry_after_ms > 0 from answer where request = 1),
  'the refusal says when to retry');
select is((select job_id from answer where request = 2),
  (select job_id from earlier where request = 0), 'the conflict names the job holding the key');
select is((select job_id from answer where request = 3),
  (select job_id from earlier where request = 1), 'the replayed batch returns its job');
select is((select job_id from answer where request = 4),
  (select job_id from earlier where request = 0), 'the reused item key returns its job');

select is(
  (select count(*)::int from public.jobs where customer_id in ('cust_er', 'cust_er_poor')), 4,
  'only the new bulk wrote jobs (2 before + 2)');
select is((select count(*)::int from public.jobs where customer_id = 'cust_er_poor'), 0,
  'the refused request wrote no job');
select is(
  (select job_ids from private.enqueue_batches where customer_id = 'cust_er' and idempotency_key = 'b1'),
  (select array_agg(job_id order by item) from answer where request = 0),
  'the new batch key records its jobs in order');
select is(
  (select count(*)::int from private.enqueue_batches where idempotency_key in ('b2', 'b3')), 0,
  'a conflicting or refused request keeps no batch key');
select is(
  (select cardinality(job_ids) from private.enqueue_batches where idempotency_key = 'b0'), 1,
  'the replayed batch is untouched');
select ok(
  (select bool_and(o.available_at > now() + interval '14 seconds')
     from private.outbox o join answer a on a.outbox_id = o.id),
  'new outbox rows are reserved for the caller''s send');
select is(
  (select count(*)::int from public.queue_history h join answer a on a.job_id = h.job_id
    where a.outcome = 'created' and h.event = 'enqueued'), 2, 'one history row per new job');

-- A late duplicate settle does not rewrite the first delivery; a late failure leaves it alone.
select private.settle_outbox(array[(select outbox_id from answer where request = 0 and item = 0)],
  array['first'], '{}', null);
select private.settle_outbox(array[(select outbox_id from answer where request = 0 and item = 0)],
  array['second'], array[(select outbox_id from answer where request = 0 and item = 1)], null);
select private.settle_outbox('{}', '{}',
  array[(select outbox_id from answer where request = 0 and item = 0)], 'late failure');
select is(
  (select message_id from private.outbox where id = (select outbox_id from answer where request = 0 and item = 0)),
  'first', 'the first delivery stays recorded');
select is(
  (select tries from private.outbox where id = (select outbox_id from answer where request = 0 and item = 0)),
  1, 'and counts one try');
select is(
  (select tries from private.outbox where id = (select outbox_id from answer where request = 0 and item = 1)),
  1, 'a failed send of an undelivered row counts a try and waits');
select is(
  (select last_error from private.outbox where id = (select outbox_id from answer where request = 0 and item = 0)),
  null, 'a late failure does not touch a delivered row');

create temporary table with_nulls as
  select * from public.enqueue_job('cust_er', 1, 0, '{"a": null, "b": {"c": null}}');
select is((select payload from public.jobs where id = (select job_id from with_nulls)),
  '{"a": null, "b": {"c": null}}'::jsonb, 'enqueue_job keeps nulls inside a payload');
select is((public.enqueue_job('cust_er', 1, 0, '{"a": null}', 'k-null')).outcome, 'created', 'with a key too');
select is((public.enqueue_job('cust_er', 1, 0, '{"a": null}', 'k-null')).outcome, 'existing',
  'and its replay is recognised');

select is((public.enqueue_job('cust_er', 2, 0, '{"a": null}', 'k-null')).outcome, 'conflict',
  'the same key with other fields is a conflict');

-- A replay of a batch whose jobs were deleted since cannot return them: a conflict.
delete from public.jobs where id = (select job_id from earlier where request = 1);
select is(
  (select outcome from private.enqueue_requests(
     '[{"customer_id": "cust_er", "items": [{"package_size": 9, "priority_level": 9}], "batch_key": "b0"}]'::jsonb)),
  'conflict', 'a batch replay with a deleted job answers conflict');
select is(
  (select count(*)::int from public.jobs where customer_id = 'cust_er' and package_size = 9), 0,
  'and writes nothing');

select * from finish();
rollback;
