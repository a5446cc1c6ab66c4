-- The console's SQL: the per-minute roll-up (counts, latency histogram, late events, folding),
-- what cron runs record, alert attempts, filters, keyset pages, counts capped or estimated, and
-- the actions (retry, cancel, tracked bulk operations in batches).
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(53);

-- Start from no jobs and no roll-up, whatever the seed and the cron step left.
delete from public.jobs;
delete from private.job_stats;
update private.job_stats_totals
   set enqueued = 0, claimed = 0, completed = 0, failed = 0, retried = 0, recovered = 0,
       dead_lettered = 0, latency_buckets = array_fill(0::bigint, array[16]),
       latency_sum_ms = 0, rolled_up_to = null;

-- ---------------------------------------------------------------------------------------------
-- Roll-up.

create temporary table j as
  select n, (public.enqueue_job('cust_console_' || (n % 2), 1)).job_id as id
    from generate_series(1, 6) n;
-- Three jobs claimed after waiting 20 ms, 300 ms and 40 s (first claims), one claimed again.
update public.jobs set created_at = now() - interval '10 minutes' where id in (select id from j);
insert into public.queue_history (job_id, event, attempt, created_at)
select id, 'claimed', 1, now() - interval '10 minutes' + w
  from j join (values (1, interval '20 ms'), (2, interval '300 ms'), (3, interval '40 s')) v(k, w)
    on v.k = j.n;
insert into public.queue_history (job_id, event, attempt, created_at)
select id, 'claimed', 2, now() - interval '9 minutes' from j where n = 1;
insert into public.queue_history (job_id, event, attempt, reason, created_at)
select id, 'recovered', 1, 'Recovered from stale state (no worker heartbeat)', now() - interval '9 minutes'
  from j where n = 2;
update public.queue_history set created_at = now() - interval '10 minutes'
 where event = 'enqueued' and job_id in (select id from j);

select ok(private.roll_up_job_stats() >= 2, 'the roll-up writes the minutes that had events');
select is((select sum(enqueued)::int from private.job_stats), 6, 'six enqueued');
select is((select sum(claimed)::int from private.job_stats), 4, 'four claims');
select is((select sum(recovered)::int from private.job_stats), 1, 'one recovery');
select is((select private.sum_buckets(latency_buckets::bigint[]) from private.job_stats),
  array[0,0,1,0,0,0,1,0,0,0,0,0,1,0,0,0]::bigint[],
  'first claims only, each in its latency bucket (20 ms, 300 ms, 40 s)');
select is((select rolled_up_to from private.job_stats_totals), date_trunc('minute', now()),
  'the totals say up to when events are counted');
select is((select row(enqueued, claimed, recovered, latency_buckets) from private.job_stats_totals),
  row(6::bigint, 4::bigint, 1::bigint, array[0,0,1,0,0,0,1,0,0,0,0,0,1,0,0,0]::bigint[]),
  'the totals row holds the same sums');

-- A late commit into a minute already rolled up is counted by the next run, once.
insert into public.queue_history (job_id, event, attempt, created_at)
select id, 'completed', 1, now() - interval '1 minute' from j where n = 1;
select private.roll_up_job_stats();
select private.roll_up_job_stats();
select is((select sum(completed)::int from private.job_stats), 1,
  'events of the last minutes are counted once, however often the roll-up runs');
select is((select row(enqueued, completed) from private.job_stats_totals), row(6::bigint, 1::bigint),
  'and the totals gain only the difference');

-- Minutes older than 8 days are pruned; the totals keep what they counted.
insert into private.job_stats (minute, enqueued, completed, latency_buckets)
values (date_trunc('minute', now()) - interval '9 days', 100, 90,
        array[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]);
select private.roll_up_job_stats();
select is((select count(*)::int from private.job_stats where minute < now() - interval '8 days'), 0,
  'no minute older than 8 days stays');
select is((select (private.console_metrics()->'events_total'->>'enqueued')::int), 6,
  'the metrics'' counters come from the totals, which pruning does not lower');

-- ---------------------------------------------------------------------------------------------
-- Cron results and alert attempts.

select is(private.record_cron_result('recover-stale-jobs', '{"recovered": 2}'),
  '{"recovered": 2}'::jsonb, 'a run''s result is recorded and passed through');
select is((select command from cron.job where jobname = 'recover-stale-jobs'),
  $$select private.record_cron_result('recover-stale-jobs', (select to_jsonb(r) from public.recover_stale_jobs() r))$$,
  'the stale sweep records what it did');
select is((select count(*)::int from cron.job where jobname in ('roll-up-job-stats', 'resume-console-operations')),
  2, 'the roll-up and the operations'' resume step are scheduled');

insert into private.alerts (kind, message) values ('dlq_triggered', '{"text": "t"}');
select private.settle_alert((select max(id) from private.alerts), 'failed', null, 'HTTP 500');
select private.settle_alert((select max(id) from private.alerts), 'delivered');
select results_eq(
  $$select attempt, delivered, error from private.alert_attempts
     where alert_id = (select max(id) from private.alerts) order by attempt$$,
  $$values (1, false, 'HTTP 500'), (2, true, null::text)$$,
  'each delivery attempt is recorded with its result');

-- ---------------------------------------------------------------------------------------------
-- The recovery ledger and the late calls refused after a recovery.

create temporary table stale as
  select (public.enqueue_job('cust_console_stale', 1)).job_id as id;
create temporary table lease as
  select * from public.claim_jobs((select array_agg(id) from stale), 'w-silent');
update public.jobs set leased_at = now() - interval '1 hour', heartbeat_at = now() - interval '1 hour'
 where id = (select id from stale);
select is((select recovered from public.recover_stale_jobs()), 1, 'the silent worker''s job is taken back');
select is((select holds from public.heartbeat_jobs('w-silent', (select array_agg(id) from stale),
                                                   (select array_agg(lease) from lease))),
  false, 'its late heartbeat is refused');
select is((select done from public.complete_jobs((select array_agg(id) from stale),
                                                 (select array_agg(lease) from lease))),
  false, 'and its late completion');
select results_eq(
  $$select call, worker_id, job_status from private.lease_refusals
     where job_id = (select id from stale) order by id$$,
  $$values ('heartbeat', 'w-silent', 'pending'), ('complete', null, 'pending')$$,
  'both refusals are recorded, the heartbeat with its worker');
select is((select jsonb_path_query_array(r, '$.late_calls_refused[*].call')
             from jsonb_array_elements(private.console_recoveries(null, null, 50)) r
            where (r->>'job_id')::uuid = (select id from stale)),
  '["heartbeat", "complete"]'::jsonb, 'the recovery ledger shows them under the recovery');
create temporary table held as
  select * from public.claim_jobs(array[(public.enqueue_job('cust_console_stale', 1)).job_id], 'w-live');
select is((select holds from public.heartbeat_jobs('w-live', (select array_agg(job_id) from held),
                                                   (select array_agg(lease) from held))),
  true, 'a live worker''s beat holds');
select is((select count(*)::int from private.lease_refusals where job_id = (select job_id from held)),
  0, 'and records no refusal');
delete from public.jobs where customer_id = 'cust_console_stale';

-- ---------------------------------------------------------------------------------------------
-- Rate-limit refusals.

select is(private.record_refusals(jsonb_build_array(
  jsonb_build_object('minute', date_trunc('minute', now()), 'fn', 'queue', 'policy', 'standard',
                     'client_hash', repeat('ab', 32), 'client_kind', 'ip', 'customer_id', null,
                     'refused', 4),
  jsonb_build_object('minute', date_trunc('minute', now()), 'fn', 'queue', 'policy', 'standard',
                     'client_hash', repeat('ab', 32), 'client_kind', 'ip', 'customer_id', null,
                     'refused', 3))), 1, 'the same client in the same minute is one row');
select private.record_refusals(jsonb_build_array(jsonb_build_object(
  'minute', date_trunc('minute', now()), 'fn', 'queue', 'policy', 'standard',
  'client_hash', repeat('ab', 32), 'client_kind', 'ip', 'customer_id', null, 'refused', 5)));
select is((select refused from private.rate_limit_refusals where client_hash = decode(repeat('ab', 32), 'hex')),
  12, 'a later flush adds to it');
select is((select refused from private.rate_limit_refusals_hourly
            where client_hash = decode(repeat('ab', 32), 'hex')), 12, 'and to its hour');
select is((select (c->>'refused')::int from jsonb_array_elements(
             private.console_refusals('1 hour', '1 minute', 5)->'top_clients') c
            where c->>'client' = repeat('ab', 6)), 12, 'the top clients show it by its hash prefix');
select is((select c->'points'->0->>'refused' from jsonb_array_elements(
             private.console_refusals('1 hour', '1 minute', 5)->'top_clients') c
            where c->>'client' = repeat('ab', 6)), '12', 'with its refusals over time');

-- ---------------------------------------------------------------------------------------------
-- Filters and pages.

select throws_ok($$select private.console_job_filter('{"nope": 1}')$$, '22023', null,
  'an unknown filter is refused');
select throws_ok($$select private.console_jobs('{"created_after": "x''; drop table jobs; --"}', null, null, 5)$$,
  '22007', null, 'a value is a quoted literal cast to its type, never SQL');
select is(private.console_job_filter('{"status": "failed", "customer_id": "o''brien"}'),
  $$j.status = 'failed' and j.customer_id = 'o''brien'$$, 'values are quoted');

update public.jobs set status = 'failed', completed_at = now(), error_message = 'boom'
 where id in (select id from j where n in (1, 2, 3));
update public.jobs set created_at = now() - make_interval(secs => j.n)
  from j where jobs.id = j.id;
select is((select array_agg((v->>'id')::uuid) from private.console_jobs('{}', null, null, 3) v),
  (select array_agg(id order by n) from j where n <= 3), 'newest first across statuses');
select is((select array_agg((v->>'id')::uuid) from private.console_jobs('{}',
             (select created_at from public.jobs where id = (select id from j where n = 3)),
             (select id from j where n = 3), 3) v),
  (select array_agg(id order by n) from j where n > 3), 'the next page starts after the cursor');
select is((select count(*)::int from private.console_jobs('{"status": "failed", "customer_id": "cust_console_1"}',
             null, null, 50)), 2, 'status and customer filters combine');
select is((select count(*)::int from private.console_jobs('{"created_before": "2000-01-01T00:00:00Z"}',
             null, null, 50)), 0, 'a time range filters');

select is((private.console_status_counts(2)->'failed') - 'count'::text,
  '{"exact": false, "basis": "estimate from table statistics (exact counts stop at 2)"}'::jsonb,
  'past the cap a count is labelled an estimate');
select is(private.console_status_counts(2)->'in_progress', '{"count": 0, "exact": true}',
  'below it, exact');
select ok((private.console_status_counts(2)->'failed'->>'count')::int >= 3,
  'an estimate is never below the cap it passed');

-- ---------------------------------------------------------------------------------------------
-- Actions.

select results_eq(
  $$select outcome from private.console_retry_jobs(
      array[(select id from j where n = 1), (select id from j where n = 4),
            '00000000-0000-4000-8000-00000000dead'::uuid], 'op@x') order by outcome$$,
  $$values ('not_failed'), ('not_found'), ('retried')$$, 'retry: only failed jobs');
select is((select row(status, completed_at is null, (select count(*)::int from private.outbox o
                       where o.job_id = jobs.id and o.delivered_at is null) >= 1)
             from public.jobs where id = (select id from j where n = 1)),
  row('pending'::text, true, true), 'a retried job is pending again, with a message to send');

select results_eq(
  $$select outcome from private.console_cancel_jobs(array[(select id from j where n = 4),
                                                          (select id from j where n = 2)], 'op@x')
     order by outcome$$,
  $$values ('cancelled'), ('not_pending')$$, 'cancel: only pending jobs');
select is((select row(status, error_message) from public.jobs where id = (select id from j where n = 4)),
  row('failed'::text, 'Cancelled by op@x'::text), 'a cancelled job is failed, saying who cancelled it');
select is((select outcome from public.claim_jobs(array[(select id from j where n = 4)], 'w-console')),
  'finished', 'a worker''s claim refuses a cancelled job');

-- A bulk retry by filter, two jobs per batch, each batch its own call.
select is(private.console_count_jobs('retry', '{"customer_id": "cust_console_0"}'), 2::bigint,
  'the dry run counts the failed jobs the filter matches');
create temporary table op as
  select * from private.console_start_operation('retry', '{"customer_id": "cust_console_0"}', null, 'op@x', 'operator');
-- A job of the filter created after the operation started is not its business.
insert into public.jobs (customer_id, package_size, status, completed_at, created_at)
values ('cust_console_0', 1, 'failed', now(), now() + interval '1 second');
select is((select estimated from op), 2, 'the operation records its estimate');
select is((select row(status, processed, changed) from private.console_run_operation((select id from op), 1)),
  row('running'::text, 1, 1), 'one batch of one');
select is((select row(status, processed, changed) from private.console_run_operation((select id from op), 1)),
  row('running'::text, 2, 2), 'then the next, after the cursor');
select is((select row(status, processed, changed) from private.console_run_operation((select id from op), 1)),
  row('done'::text, 2, 2), 'an empty batch finishes it');
select is((select count(*)::int from private.console_audit where action = 'bulk_retry' and result = 'finished'
             and affected = 2), 1, 'the finish is audited with how many changed');
select is((select count(*)::int from private.console_audit where action = 'bulk_retry' and result = 'started'
             and target->>'operation' = (select id::text from op)), 1,
  'and its start, by the same call that recorded it');
select is((select count(*)::int from public.jobs where customer_id = 'cust_console_0' and status = 'failed'
             and created_at > now()), 1, 'the job created after the start is left alone');

-- A batch that fails is undone and recorded; five in a row fail the operation.
create temporary table broken as
  select * from private.console_start_operation('cancel', '{}', null, 'op@x', 'operator');
update private.console_operations set filter = '{"created_after": "not a time"}'
 where id = (select id from broken);
select is((select row(status, failures, error) from private.console_run_operation((select id from broken), 10)),
  row('running'::text, 1, 'batch failed (SQLSTATE 22007)'::text),
  'a failed batch counts, with its SQLSTATE only');
select private.console_run_operation((select id from broken), 10) from generate_series(1, 4);
select is((select row(status, failures) from private.console_operations where id = (select id from broken)),
  row('failed'::text, 5), 'the fifth failure in a row fails it');
select is((select result from private.console_audit where target->>'operation' = (select id::text from broken)
            order by id desc limit 1), 'failed', 'and the failure is audited');

select * from finish();
rollback;
