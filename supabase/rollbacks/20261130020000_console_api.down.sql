-- Rolls back 20261130020000_console_api.sql: the console's SQL, its roll-up, records of cron
-- runs and alert attempts, the audit trail and operations are dropped; the cron jobs call their
-- functions directly again. Roll the console-api function back (remove it) first.
select cron.unschedule('resume-console-operations');
select cron.unschedule('roll-up-job-stats');
select cron.schedule('recover-stale-jobs', '* * * * *', 'select * from public.recover_stale_jobs()');
select cron.schedule('resend-lost-jobs', '*/10 * * * *', 'select private.resend_lost_jobs()');
select cron.schedule('rate-limit-cleanup', '*/10 * * * *', 'select private.prune_rate_limits()');
select cron.schedule('prune-history', '17 3 * * *', 'select * from private.prune_history()');
select cron.schedule('dispatch-outbox', '* * * * *', 'select private.request_dispatch()');
select cron.schedule('dlq-monitor', '* * * * *', $$select private.invoke_function('dlq-monitor')$$);

drop function private.console_metrics();
drop function private.console_audit_page(bigint, integer);
drop function private.console_operations_page(bigint, integer);
drop function private.console_operation_view(private.console_operations);
drop procedure private.resume_console_operations(integer);
drop function private.console_run_operation(bigint, integer);
drop function private.console_start_operation(text, jsonb, uuid[], text);
drop function private.console_count_jobs(text, jsonb);
drop function private.console_operation_status(text);
drop function private.console_cancel_jobs(uuid[], text);
drop function private.console_retry_jobs(uuid[], text);
drop function private.console_schedules(integer);
drop function private.console_alerts(bigint, integer);
drop function private.console_dead_letters(timestamptz, text, integer);
drop function private.console_workers(integer);
drop function private.console_recoveries(timestamptz, bigint, integer);
drop function private.console_leases(timestamptz, uuid, integer);
drop function private.console_job(uuid);
drop function private.console_jobs(jsonb, timestamptz, uuid, integer);
drop function private.console_overview();
drop function private.console_status_counts(integer);
drop function private.console_statuses(jsonb);
drop function private.console_job_filter(jsonb);
drop index public.queue_history_recoveries_idx;
drop index public.jobs_status_created_idx;
drop table private.console_operations;
drop table private.console_audit;
drop trigger alerts_record_attempt on private.alerts;
drop function private.record_alert_attempt();
drop table private.alert_attempts;
drop function private.record_cron_result(text, jsonb);
drop table private.cron_results;
drop function private.roll_up_job_stats();
drop aggregate private.sum_buckets(integer[]);
drop function private.add_buckets(integer[], integer[]);
drop table private.job_stats;
drop function private.latency_bounds_ms();
