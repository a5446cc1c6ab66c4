-- Rolls back 20261122200000_dlq_monitor.sql: the DLQ monitor's schedule, state, alerts and
-- redrive records, and the settings it added. Undelivered alerts are lost with it.
select cron.unschedule('dlq-monitor');
drop function private.redrive_job(text, uuid);
drop function private.settle_alert(bigint, text, integer, text);
drop function private.due_alerts(integer);
drop function private.release_slack_delivery();
drop function private.claim_slack_delivery(integer);
drop function private.raise_alert(text, jsonb);
drop function private.mark_dead_lettered(jsonb);
drop function private.decide_dlq_alert(integer);
drop type private.dlq_alert_decision;
drop table private.redrives, private.slack_delivery, private.alerts, private.dlq_monitor;
alter table private.settings
  drop column dlq_remind_seconds,
  drop column dlq_growth_alert_seconds,
  drop column dlq_resolve_after_checks,
  drop column alert_retry_base_seconds,
  drop column alert_retry_max_seconds;
