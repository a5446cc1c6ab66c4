-- The contract's array forms: a worker holding many jobs claims, heartbeats (with progress) and
-- completes them in one call each, with the single-job forms' answers and fencing per job.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(31);

insert into public.jobs (id, customer_id, package_size) values
  ('60000000-0000-4000-8000-000000000001', 'cust_rt', 1),
  ('60000000-0000-4000-8000-000000000002', 'cust_rt', 2),
  ('60000000-0000-4000-8000-000000000003', 'cust_rt', 3);
insert into public.jobs (id, customer_id, package_size, status, completed_at)
values ('60000000-0000-4000-8000-00000000000c', 'cust_rt', 1, 'completed', now());

create temporary table claims as
  select row_number() over () as n, c.*
    from public.claim_jobs(array['60000000-0000-4000-8000-000000000002',
                                 '60000000-0000-4000-8000-00000000000c',
                                 '60000000-0000-4000-8000-0000000000ff',
                                 '60000000-0000-4000-8000-000000000001']::uuid[], 'rt_worker') c;
select is((select array_agg(outcome order by n) from claims),
  array['claimed', 'finished', 'unknown_job', 'claimed'],
  'claim_jobs answers each id in order, as claim_job would');
select is((select array_agg(job_id order by n) from claims),
  array['60000000-0000-4000-8000-000000000002', '60000000-0000-4000-8000-00000000000c',
        '60000000-0000-4000-8000-0000000000ff', '60000000-0000-4000-8000-000000000001']::uuid[],
  'each row names its job');
select is((select package_size from claims where n = 1), 2, 'a claimed row carries the job');
select is((select count(*)::int from public.queue_history
            where event = 'claimed' and worker_id = 'rt_worker'), 2,
  'one claimed history row per claimed job');
select is((select outcome from public.claim_jobs(array['60000000-0000-4000-8000-000000000001']::uuid[],
                                                  'other_worker')), 'leased',
  'a job held by rt_worker is refused to another');
select is((select count(*)::int from public.claim_jobs('{}'::uuid[], 'rt_worker')), 0,
  'no ids: no rows');

-- The same job named twice in one call (two messages for it in one receive): claimed once.
insert into public.jobs (id, customer_id, package_size)
values ('60000000-0000-4000-8000-000000000004', 'cust_rt', 1);
select is((select array_agg(outcome order by n) from (
            select row_number() over () as n, c.outcome
              from public.claim_jobs(array['60000000-0000-4000-8000-000000000004',
                                           '60000000-0000-4000-8000-000000000004']::uuid[],
                                     'dup_worker') c) x),
  array['claimed', 'leased'], 'an id asked twice in one call is claimed once');
select is((select count(*)::int from public.queue_history
            where job_id = '60000000-0000-4000-8000-000000000004' and event = 'claimed'), 1,
  'with one claimed history row');
select is((select attempts from public.jobs where id = '60000000-0000-4000-8000-000000000004'), 1,
  'and one attempt');

select is((select jobs_held from public.workers_view where worker_id = 'rt_worker'), 2,
  'workers_view counts every job the worker holds');
select is((select job_ids from public.workers_view where worker_id = 'rt_worker'),
  array['60000000-0000-4000-8000-000000000001', '60000000-0000-4000-8000-000000000002']::uuid[],
  'and lists them (by claim time, then id)');

-- One heartbeat for both leases, one with a wrong lease, and progress for one.
create temporary table beat as
  select row_number() over () as n, b.*
    from public.heartbeat_jobs('rt_worker',
      array['60000000-0000-4000-8000-000000000001', '60000000-0000-4000-8000-000000000002',
            '60000000-0000-4000-8000-000000000003']::uuid[],
      array[(select lease from claims where n = 4), (select lease from claims where n = 1),
            gen_random_uuid()],
      array['{"done": 2, "total": 5, "note": "yelp", "attempt": 1}'::jsonb, null, '{}'::jsonb]) b;
select is((select array_agg(holds order by n) from beat), array[true, true, false],
  'heartbeat_jobs says per job whether its lease holds');
select is((select count(*)::int from public.jobs
            where id in ('60000000-0000-4000-8000-000000000001',
                         '60000000-0000-4000-8000-000000000002') and heartbeat_at is not null), 2,
  'the heartbeat is recorded on every held job');
select is((select progress from public.jobs where id = '60000000-0000-4000-8000-000000000001'),
  '{"done": 2, "total": 5, "note": "yelp", "attempt": 1}'::jsonb, 'progress is stored on the job');
select is((select progress from public.jobs where id = '60000000-0000-4000-8000-000000000003'),
  null::jsonb, 'nothing is written to a job that is not in progress');
select is((select current_job_id from public.worker_heartbeats where worker_id = 'rt_worker'),
  '60000000-0000-4000-8000-000000000001'::uuid, 'current_job_id is the first held job of the beat');
select is((select holds from public.heartbeat_jobs('rt_worker',
            array['60000000-0000-4000-8000-000000000002']::uuid[], array[gen_random_uuid()],
            array['{"done": 9, "total": 9}'::jsonb])),
  false, 'a held job beaten with another lease does not hold');
select is((select progress from public.jobs where id = '60000000-0000-4000-8000-000000000002'),
  null::jsonb, 'and its progress is not written');

select lives_ok($$select * from public.heartbeat_jobs('rt_worker',
    array['60000000-0000-4000-8000-000000000001']::uuid[], array[(select lease from claims where n = 4)],
    array['"not an object"'::jsonb])$$, 'progress that is no object is ignored, not an error');
select is((select progress->>'note' from public.jobs where id = '60000000-0000-4000-8000-000000000001'),
  'yelp', 'and keeps what was stored');
select throws_ok($$select * from public.heartbeat_jobs('rt_worker',
    array[gen_random_uuid()], '{}'::uuid[])$$, '22023', null, 'arrays of different lengths are refused');
select lives_ok($$select * from public.heartbeat_jobs('idle_rt', '{}'::uuid[], '{}'::uuid[])$$,
  'an idle worker beats with empty arrays');
select is((select current_job_id from public.worker_heartbeats where worker_id = 'idle_rt'), null::uuid,
  'and holds nothing');

-- Health and the stale view with many jobs per worker: one worker, each job stale on its own.
select is((select count(*)::int from public.worker_heartbeats where worker_id = 'rt_worker'), 1,
  'one heartbeat row per worker, however many jobs it holds');
select is((select count(*)::int from public.find_stale_jobs() where worker_id = 'rt_worker'), 0,
  'a held job that beats is not stale');
update public.jobs set heartbeat_at = now() - interval '1 hour'
 where id = '60000000-0000-4000-8000-000000000001';
select is((select array_agg(job_id) from public.find_stale_jobs() where worker_id = 'rt_worker'),
  array['60000000-0000-4000-8000-000000000001']::uuid[],
  'a job of a live worker whose own beats stopped is stale, and only that one');

-- Completion of both, one with a stale lease.
create temporary table done as
  select row_number() over () as n, c.* from public.complete_jobs(
    array['60000000-0000-4000-8000-000000000002', '60000000-0000-4000-8000-000000000001']::uuid[],
    array[(select lease from claims where n = 1), gen_random_uuid()],
    array['{"ok": 2}'::jsonb, '{"ok": 1}'::jsonb]) c;
select is((select array_agg(job_id::text || ':' || done order by n) from done),
  array['60000000-0000-4000-8000-000000000002:true', '60000000-0000-4000-8000-000000000001:false'],
  'complete_jobs completes under the current lease only, answering per job in order');
select is((select (status, result) from public.jobs where id = '60000000-0000-4000-8000-000000000002'),
  row('completed'::text, '{"ok": 2}'::jsonb), 'the completed job keeps its result');
select is((select jobs_held from public.workers_view where worker_id = 'rt_worker'), 1,
  'workers_view no longer counts the completed job');

-- A new claim starts without the earlier attempt's progress.
update public.jobs set status = 'pending', lease_token = null, progress = '{"done": 1, "total": 2}'
 where id = '60000000-0000-4000-8000-000000000001';
select is((public.claim_job('60000000-0000-4000-8000-000000000001', 'rt_worker')).outcome,
  'claimed', 'the job is claimed again');
select is((select progress from public.jobs where id = '60000000-0000-4000-8000-000000000001'),
  null::jsonb, 'a claim clears the progress of the attempt before');

select * from finish();
rollback;
