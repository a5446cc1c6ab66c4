-- Rolls back 20261122200000_dlq_monitor.sql: the DLQ monitor's schedule, state, alerts and
-- redrive records, and the settings it added. Undelivered alerts are lost with it.
select cron.unschedule('dlq-monitor');

-- request_dispatch() as 20261122160000_job_pipeline.sql defined it, before invoke_function().
create or replace function private.request_dispatch()
returns bigint
language plpgsql
security definer
set search_path = ''
as $$
declare
  project_url text;
  service_key text;
  request_id bigint;
begin
  if not exists (select 1 from private.outbox
                  where delivered_at is null and available_at <= now()) then
    return null;
  end if;
  select decrypted_secret into project_url from vault.decrypted_secrets where name = 'project_url';
  select decrypted_secret into service_key from vault.decrypted_secrets
   where name = 'service_role_key';
  if project_url is null or service_key is null then
    raise warning 'request_dispatch: Vault secrets project_url and service_role_key are not set';
    return null;
  end if;
  select net.http_post(
    url := project_url || '/functions/v1/dispatch',
    body := '{}'::jsonb,
    headers := jsonb_build_object('Content-Type', 'application/json',
                                  'Authorization', 'Bearer ' || service_key),
    timeout_milliseconds := 15000
  ) into request_id;
  return request_id;
end;
$$;

drop function private.invoke_function(text, jsonb);
drop function private.redrive_job(text, uuid);
drop function private.settle_alert(bigint, text, integer, text);
drop function private.due_alerts(integer);
drop function private.release_slack_delivery();
drop function private.claim_slack_delivery(integer);
drop function private.raise_alert(text, jsonb);
drop function private.observe_dlq(integer, jsonb);
drop type private.dlq_observation;
drop table private.redrives, private.slack_delivery, private.alerts, private.dlq_monitor;
alter table private.settings
  drop column dlq_remind_seconds,
  drop column dlq_growth_alert_seconds,
  drop column dlq_resolve_after_checks,
  drop column alert_retry_base_seconds,
  drop column alert_retry_max_seconds;
