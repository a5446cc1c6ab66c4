-- Rolls back 20261129190000_worker_runtime.sql. Stop workers that use the array forms first.
drop view public.workers_view;
drop function public.complete_jobs(uuid[], uuid[], jsonb[]);
drop function public.heartbeat_jobs(text, uuid[], uuid[], jsonb[]);
drop function public.claim_jobs(uuid[], text);
alter table public.jobs drop column progress;
