-- Demo data for the local stack: one finished job of each kind and one pending job that goes
-- through the outbox like any other (the workers started by `deno task start` pick it up).
-- Loaded once by `supabase db push --include-seed`; safe to load again.
insert into public.jobs (id, customer_id, package_size, priority_level, status, attempts,
                         error_message, completed_at)
values
  ('00000000-0000-4000-8000-000000000002', 'demo-customer-1', 100, 5, 'completed', 1, null, now()),
  ('00000000-0000-4000-8000-000000000003', 'demo-customer-2', 200, 0, 'failed', 3,
   'Directory rejected the submission', now())
on conflict (id) do nothing;

insert into public.queue_history (job_id, event, attempt, reason)
select id, 'enqueued', 0, 'seed' from public.jobs
 where id in ('00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003')
   and not exists (select 1 from public.queue_history h where h.job_id = jobs.id);

-- Through enqueue_job, so it gets its outbox row; the idempotency key makes a reload a no-op.
select public.enqueue_job('demo-customer-1', 50, 0, '{"demo": true}'::jsonb, 'seed-pending-1');
