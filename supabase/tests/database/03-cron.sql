-- Housekeeping: the daily job is registered under its stable name, once, and prunes only
-- history older than the retention settings.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(8);

select is(
  (select count(*)::int from cron.job where jobname = 'prune-history'), 1,
  'prune-history is scheduled exactly once');
select is(
  (select schedule from cron.job where jobname = 'prune-history'), '17 3 * * *',
  'prune-history runs daily at 03:17');
select is(
  (select command from cron.job where jobname = 'prune-history'),
  $$select private.record_cron_result('prune-history', (select to_jsonb(r) from private.prune_history() r))$$,
  'prune-history calls private.prune_history() and records what it pruned');
select is((select count(*)::int from cron.job where jobname = 'prune-cron-history'), 0,
  'the job it replaced is gone');

update private.settings set cron_history_retention_days = 7, history_retention_days = 30;

-- Fixtures: runs and history rows from long ago and from an hour ago.
insert into cron.job_run_details (jobid, runid, job_pid, database, username, command, status,
                                  return_message, start_time, end_time)
values
  (999001, 999001, 0, 'postgres', 'postgres', 'select 1', 'succeeded', '1 row',
   now() - interval '30 days', now() - interval '30 days'),
  (999001, 999002, 0, 'postgres', 'postgres', 'select 1', 'succeeded', '1 row',
   now() - interval '1 hour', now() - interval '1 hour');
insert into public.jobs (id, customer_id, package_size)
values ('30000000-0000-4000-8000-000000000001', 'cust_prune', 1);
insert into public.queue_history (job_id, event, created_at)
values ('30000000-0000-4000-8000-000000000001', 'enqueued', now() - interval '40 days'),
       ('30000000-0000-4000-8000-000000000001', 'claimed', now() - interval '1 hour');

select is((select row(cron_runs >= 1, history_rows >= 1) from private.prune_history()),
  row(true, true), 'pruning removes old runs and old history');
select is(
  (select array_agg(runid order by runid) from cron.job_run_details where jobid = 999001),
  array[999002::bigint], 'the recent run is kept');
select is(
  (select array_agg(event) from public.queue_history
    where job_id = '30000000-0000-4000-8000-000000000001'),
  array['claimed'], 'the recent history row is kept');
select is(private.prune_cron_history(interval '7 days'), 0::bigint,
  'a second prune finds nothing');

select * from finish();
rollback;
