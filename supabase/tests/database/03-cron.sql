-- Scheduling: the housekeeping job is registered under its stable name, once, and prunes only
-- history older than the retention.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(5);

select is(
  (select count(*)::int from cron.job where jobname = 'prune-cron-history'), 1,
  'prune-cron-history is scheduled exactly once');
select is(
  (select schedule from cron.job where jobname = 'prune-cron-history'), '17 3 * * *',
  'prune-cron-history runs daily at 03:17');
select is(
  (select command from cron.job where jobname = 'prune-cron-history'),
  'select private.prune_cron_history()',
  'prune-cron-history calls private.prune_cron_history()');

-- Fixtures: one run from last month, one from an hour ago.
insert into cron.job_run_details (jobid, runid, job_pid, database, username, command, status,
                                  return_message, start_time, end_time)
values
  (999001, 999001, 0, 'postgres', 'postgres', 'select 1', 'succeeded', '1 row',
   now() - interval '30 days', now() - interval '30 days'),
  (999001, 999002, 0, 'postgres', 'postgres', 'select 1', 'succeeded', '1 row',
   now() - interval '1 hour', now() - interval '1 hour');

select is(private.prune_cron_history(interval '7 days'), 1::bigint,
  'pruning removes the month-old run');
select is(
  (select array_agg(runid order by runid) from cron.job_run_details where jobid = 999001),
  array[999002::bigint], 'the recent run is kept');

select * from finish();
rollback;
