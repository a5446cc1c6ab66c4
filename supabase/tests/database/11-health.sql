-- private.health_snapshot(): the counts GET /health reports, from scenario fixtures.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(10);

-- A clean slate inside the transaction, then one fixture per figure.
delete from public.worker_heartbeats;
delete from public.jobs;
delete from private.outbox;
update private.settings set stale_threshold_seconds = 90;

insert into public.jobs (customer_id, package_size, status) values ('c_health', 1, 'pending'),
                                                                   ('c_health', 1, 'pending');
insert into public.jobs (customer_id, package_size, status, lease_token, leased_by, leased_at,
                         heartbeat_at)
values ('c_health', 1, 'in_progress', gen_random_uuid(), 'w_live', now(), now()),
       ('c_health', 1, 'in_progress', gen_random_uuid(), 'w_gone', now() - interval '1 hour',
        now() - interval '10 minutes');
insert into public.jobs (customer_id, package_size, status, completed_at)
values ('c_health', 1, 'completed', now()),
       ('c_health', 1, 'completed', now() - interval '2 days'),
       ('c_health', 1, 'failed', now());
insert into public.worker_heartbeats (worker_id, last_heartbeat)
values ('w_live', now()), ('w_gone', now() - interval '10 minutes');

insert into private.integration_status (name, ok, detail)
values ('slack', false, 'webhook answered 404'), ('other', true, '');

create temporary table snap as select private.health_snapshot() as s;

select is((select (s->>'jobs_pending')::int from snap), 2, 'pending jobs');
select is((select (s->>'jobs_in_progress')::int from snap), 2, 'jobs in progress');
select is((select (s->>'jobs_completed_today')::int from snap), 1,
  'completed today (not the one from two days ago)');
select is((select (s->>'jobs_failed_today')::int from snap), 1, 'failed today');
select is((select (s->>'workers_active')::int from snap), 1,
  'workers with a heartbeat within the stale threshold');
select is((select (s->>'jobs_stale')::int from snap), 1, 'stale jobs');
select is(
  (select array_agg(j->>'name' order by j->>'name') from snap, jsonb_array_elements(s->'cron_jobs') j),
  array['dispatch-outbox', 'dlq-monitor', 'prune-history', 'rate-limit-cleanup', 'recover-stale-jobs'],
  'every cron job is listed');
select ok(
  (select bool_and(j ? 'last_run' and j ? 'last_status' and j ? 'schedule')
     from snap, jsonb_array_elements(s->'cron_jobs') j),
  'with its schedule, last run and last status');

select is((select s->'misconfigured' from snap),
  '[{"name": "slack", "detail": "webhook answered 404"}]'::jsonb,
  'misconfigured integrations are listed, working ones are not');
update private.integration_status set ok = true where name = 'slack';
select is((select private.health_snapshot()->'misconfigured'), '[]'::jsonb,
  'and leave the list once they work again');

select * from finish();
rollback;
