-- Demo data for the local stack: a few jobs in each state, so `health` and the queue API have
-- something to show. Loaded once by `supabase db push --include-seed`.
insert into public.jobs (id, customer_id, package_size, priority_level, status, attempts,
                         error_message, completed_at)
values
  ('00000000-0000-4000-8000-000000000001', 'demo-customer-1', 50, 0, 'pending', 0, null, null),
  ('00000000-0000-4000-8000-000000000002', 'demo-customer-1', 100, 5, 'completed', 1, null, now()),
  ('00000000-0000-4000-8000-000000000003', 'demo-customer-2', 200, 0, 'failed', 3,
   'Directory rejected the submission', now())
on conflict (id) do nothing;

insert into public.queue_history (job_id, event, attempt, reason)
select id, 'enqueued', 0, 'seed' from public.jobs
 where id::text like '00000000-0000-4000-8000-00000000000_'
   and not exists (select 1 from public.queue_history h where h.job_id = jobs.id);
