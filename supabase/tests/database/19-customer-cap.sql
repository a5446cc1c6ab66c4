-- The per-customer cap: off by default; on, claim_jobs claims a customer's jobs only up to the cap
-- (counting those in progress and those this call claims first) and answers `capped` for the rest
-- with capped_delay_seconds. A capped job is left exactly as it was. Other customers are not held.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(14);

select is((select max_in_progress_per_customer from private.settings), null, 'off by default');

create temporary table j as
  select n, (public.enqueue_job(case when n <= 5 then 'cust_capped' else 'cust_quiet' end, 1)).job_id as id
    from generate_series(1, 7) n;
select is((select count(*)::int from public.claim_jobs(
    (select array_agg(id order by n) from j where n <= 5), 'w-cap')
   where outcome = 'claimed'), 5, 'without a cap every due job is claimed');
update public.jobs set status = 'pending', lease_token = null, attempts = 0
 where id in (select id from j where n between 2 and 5);

create temporary table claims_before as
  select count(*)::int as n from public.queue_history where event = 'claimed';

update private.settings set max_in_progress_per_customer = 2, capped_delay_seconds = 7;
-- cust_capped has job 1 in progress; asked for jobs 2-5 and one of cust_quiet's.
create temporary table answer as
  select c.*, x.o from unnest((select array_agg(id order by n) from j where n in (2, 3, 4, 6)))
         with ordinality as x(id, o)
    join lateral public.claim_jobs(array[x.id], 'w-cap') c on true;
select results_eq($$select outcome, retry_in_seconds between 4 and 11 from answer order by o$$,
  $$values ('claimed', null::boolean), ('capped', true), ('capped', true), ('claimed', null)$$,
  'one at a time: room for one more of cust_capped, then capped with the delay spread around 7 s; cust_quiet is not held');

select results_eq(
  $$select outcome from public.claim_jobs(
      (select array_agg(id order by n) from j where n in (5, 7)), 'w-cap2') order by 1$$,
  $$values ('capped'), ('claimed')$$, 'in one call too: cust_capped is at its cap');

select results_eq(
  $$select status, attempts, lease_token is null from public.jobs
     where id in (select id from j where n in (3, 4, 5))$$,
  $$values ('pending', 0, true), ('pending', 0, true), ('pending', 0, true)$$,
  'a capped job is left pending, not attempted');
select is((select count(*)::int from public.queue_history where event = 'claimed')
          - (select n from claims_before),
  3, 'only the three claimed jobs have a claim in their history');

select is((select count(*)::int from public.jobs
            where id in (select id from j where n in (3, 4)) and capped_at = now()),
  2, 'a capped job is stamped');

-- The lost-message sweep leaves a job capped a moment ago alone, however long it has waited.
update private.outbox set delivered_at = now() - interval '4 hours'
 where job_id = (select id from j where n = 4);
update public.jobs set created_at = now() - interval '4 hours', run_after = now() - interval '4 hours'
 where id = (select id from j where n = 4);
select is(private.resend_lost_jobs(), 0, 'a job capped a moment ago has its message on the way');
update public.jobs set capped_at = now() - interval '4 hours' where id = (select id from j where n = 4);
select is(private.resend_lost_jobs(), 1, 'capped hours ago and not seen since: lost, sent again');

-- Room again once one finishes.
select is((select count(*)::int from public.complete_jobs(
    array[(select id from j where n = 1)],
    array[(select lease_token from public.jobs where id = (select id from j where n = 1))])
  where done), 1, 'one of cust_capped''s jobs completes');
select results_eq(
  $$select outcome from public.claim_jobs(
      (select array_agg(id order by n) from j where n in (3, 4)), 'w-cap') order by outcome$$,
  $$values ('capped'), ('claimed')$$, 'the freed slot goes to the next job, the one after waits');

-- Within one call, the first asked wins the room.
update private.settings set max_in_progress_per_customer = 3;
select results_eq(
  $$select outcome from public.claim_jobs(
      (select array_agg(id order by n) from j where n in (5)), 'w-cap')$$,
  $$values ('claimed')$$, 'a higher cap takes effect at the next claim');

-- Other answers come before the cap: a finished job is finished, not capped.
select is((select outcome from public.claim_jobs(array[(select id from j where n = 1)], 'w-cap')),
  'finished', 'a finished job answers finished');
select throws_ok($$update private.settings set capped_delay_seconds = 601$$, '23514', null,
  'the delay, spread up to 1.5 times, is one SQS can give (at most 900 s)');

select * from finish();
rollback;
