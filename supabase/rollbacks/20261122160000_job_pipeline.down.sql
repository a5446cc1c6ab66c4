-- Rolls back 20261122160000_job_pipeline.sql: the worker contract, the outbox, API keys and
-- settings. Jobs keep their rows but lose payload, results and leases; undelivered outbox rows
-- and API keys are lost. pgcrypto stays (Supabase enables it in every project).
select cron.unschedule('dispatch-outbox');
drop function private.revoke_api_key(uuid);
drop function private.issue_api_key(text, text);
drop function private.request_dispatch();
drop function private.invoke_function(text, jsonb);
drop function private.settle_outbox(bigint[], text[], bigint[], text);
drop function private.take_outbox(integer, bigint[]);
drop function public.release_job(uuid, uuid, text);
drop function public.fail_job(uuid, uuid, text, boolean);
drop function public.complete_job(uuid, uuid, jsonb);
drop function public.heartbeat(text, uuid, uuid);
drop function public.claim_job(uuid, text);
drop function public.enqueue_job(text, integer, integer, jsonb, text);
drop type public.job_failure;
drop type public.job_lease;
drop type public.enqueued_job;
drop table private.api_keys, private.outbox, private.settings;
drop function private.backoff_seconds(integer, integer, integer);
drop function private.free_workers(uuid[]);
drop trigger jobs_revoke_lease on public.jobs;
drop function private.clear_revoked_lease();
drop index public.jobs_pending_order_idx;
drop index public.jobs_customer_idempotency_idx;
alter table public.jobs
  drop constraint jobs_in_progress_is_leased,
  drop column payload,
  drop column idempotency_key,
  drop column result,
  drop column run_after,
  drop column lease_token,
  drop column leased_by,
  drop column leased_at,
  drop column heartbeat_at;
