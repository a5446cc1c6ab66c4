-- The outbox: take_outbox() hands out only due, undelivered rows; settle_outbox() marks them
-- delivered or backs off; request_dispatch() calls `dispatch` through pg_net only when needed.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(13);

delete from private.outbox;
insert into public.jobs (id, customer_id, package_size)
values ('70000000-0000-4000-8000-000000000001', 'cust_outbox', 1);
insert into private.outbox (id, job_id, available_at, delivered_at) overriding system value
values (9001, '70000000-0000-4000-8000-000000000001', now() - interval '1 minute', null),
       (9002, '70000000-0000-4000-8000-000000000001', now() + interval '1 minute', null),
       (9003, '70000000-0000-4000-8000-000000000001', now() - interval '1 minute', now());

select is((select array_agg(outbox_id) from private.take_outbox(10)), array[9001::bigint],
  'only the due, undelivered row is taken');
select is((select customer_id from private.take_outbox(10)), 'cust_outbox',
  'a taken row carries the customer for the message');
select is((select count(*)::int from private.take_outbox(10, array[9002::bigint])), 0,
  'a row that is not due is not taken even by id');

select private.settle_outbox(array[9001::bigint], array['msg-1'], array[]::bigint[], null);
select is((select (delivered_at is not null, message_id, tries) from private.outbox where id = 9001),
  row(true, 'msg-1'::text, 1), 'a sent row is delivered with its message id');

update private.outbox set available_at = now() - interval '1 second' where id = 9002;
select private.settle_outbox(array[]::bigint[], array[]::text[], array[9002::bigint],
                             'AWS.SimpleQueueService.Unavailable');
select is((select (delivered_at, tries, last_error) from private.outbox where id = 9002),
  row(null::timestamptz, 1, 'AWS.SimpleQueueService.Unavailable'::text),
  'a refused row stays undelivered with the error');
select is((select available_at from private.outbox where id = 9002), now() + interval '2 seconds',
  'and is tried again after a backoff');
update private.outbox set tries = 30 where id = 9002;
select private.settle_outbox(array[]::bigint[], array[]::text[], array[9002::bigint], 'again');
select is((select available_at from private.outbox where id = 9002),
  now() + make_interval(secs => (select dispatch_retry_max_seconds from private.settings)),
  'the backoff is capped');

-- request_dispatch: nothing due, nothing sent.
select is(private.request_dispatch(), null::bigint, 'nothing due: no request');
update private.outbox set available_at = now() - interval '1 second' where id = 9002;
delete from net.http_request_queue;
select isnt(private.request_dispatch(), null::bigint, 'a due row: a request');
select is(
  (select url from net.http_request_queue),
  (select decrypted_secret from vault.decrypted_secrets where name = 'project_url')
    || '/functions/v1/dispatch',
  'to the dispatch function at the project URL from Vault');
select is(
  (select headers->>'Authorization' from net.http_request_queue),
  'Bearer ' || (select decrypted_secret from vault.decrypted_secrets where name = 'service_role_key'),
  'with the service role key from Vault');

select is(
  (select schedule from cron.job where jobname = 'dispatch-outbox'), '* * * * *',
  'dispatch-outbox runs every minute');
select is(
  (select command from cron.job where jobname = 'dispatch-outbox'),
  $$select private.record_cron_result('dispatch-outbox', jsonb_build_object('request_id', private.request_dispatch()))$$,
  'dispatch-outbox calls request_dispatch() and records its request');

select * from finish();
rollback;
