-- Rolls back 20261122170000_stale_job_recovery.sql: stale jobs are no longer recovered, and the
-- daily housekeeping goes back to pruning pg_cron's history only.
select cron.unschedule('recover-stale-jobs');
select cron.unschedule('prune-history');
select cron.schedule('prune-cron-history', '17 3 * * *', 'select private.prune_cron_history()');
drop function private.prune_history();
drop function public.recover_stale_jobs();
drop view public.stale_jobs_view;
drop function public.find_stale_jobs(interval);
drop index public.jobs_stale_sweep_idx;
drop function private.stale_before();
alter table public.jobs drop column stale_recoveries;
alter table private.settings
  drop column stale_threshold_seconds,
  drop column max_stale_recoveries,
  drop column history_retention_days,
  drop column cron_history_retention_days;
