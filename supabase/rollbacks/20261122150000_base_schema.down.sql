-- Rolls back 20261122150000_base_schema.sql: every job, heartbeat and history row is deleted.
-- pg_cron and pg_net stay (Supabase manages them). `drop schema private` without cascade fails
-- if anything not created by these migrations was put there: look before forcing it.
select cron.unschedule('prune-cron-history');
drop function private.prune_cron_history(interval);
drop table public.queue_history, public.worker_heartbeats, public.jobs;
drop function private.touch_updated_at();
drop schema private;
