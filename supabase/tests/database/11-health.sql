-- private.health_snapshot(): the counts GET /health reports, from scenario fixtures.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(11);

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

-- latest_run: dispatch-outbox's most recent run, in the past hour, failed.
insert into cron.job_run_details (jobid, runid, job_pid, database, username, command, status,
                                  return_message, start_time, end_time)
select jobid, 900000000001, 0, 'postgres', 'postgres', command, 'failed', 'boom',
       now() - interval '5 minutes', now() - interval '5 minutes'
  from cron.job where jobname = 'dispatch-outbox';

create temporary table snap as select * from private.health_snapshot();

select is((select jobs_pending from snap), 2::bigint, 'pending jobs');
select is((select jobs_in_progress from snap), 2::bigint, 'jobs in progress');
select is((select jobs_completed_today from snap), 1::bigint,
  'completed today (not the one from two days ago)');
select is((select jobs_failed_today from snap), 1::bigint, 'failed today');
select is((select workers_active from snap), 1::bigint,
  'workers with a heartbeat within the stale threshold');
select is((select jobs_stale from snap), 1::bigint, 'stale jobs');
select is(
  (select array_agg(j.name order by j.name) from snap, unnest(snap.cron_jobs) j),
  array['dispatch-outbox', 'dlq-monitor', 'prune-history', 'rate-limit-cleanup', 'recover-stale-jobs',
        'resend-lost-jobs', 'resume-console-operations', 'roll-up-job-stats'],
  'every cron job is listed');
select ok(
  (select bool_and(j.schedule is not null and j.active is not null)
     from snap, unnest(snap.cron_jobs) j),
  'with its schedule and whether it is active');
select is(
  (select row(j.last_run, j.last_status)::text from snap, unnest(snap.cron_jobs) j
    where j.name = 'dispatch-outbox'),
  row(now() - interval '5 minutes', 'failed')::text,
  'and its latest run: when, and how it ended');

select is((select to_jsonb(misconfigured) from snap),
  '[{"name": "slack", "detail": "webhook answered 404"}]'::jsonb,
  'misconfigured integrations are listed, working ones are not');
update private.integration_status set ok = true where name = 'slack';
select is((select to_jsonb(misconfigured) from private.health_snapshot()), '[]'::jsonb,
  'and leave the list once they work again');

select * from finish();
rollback;
