-- private.rate_limit(): GCRA per key, all policies or none, refusals write nothing.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(12);

delete from private.rate_limits;

select is((select allowed from private.rate_limit(array['\x01'::bytea], array[3], array[60000])),
  true, 'the first request is admitted');
select is((select remaining from private.rate_limit(array['\x01'::bytea], array[3], array[60000])),
  1, 'the second leaves one');
select is((select allowed from private.rate_limit(array['\x01'::bytea], array[3], array[60000])),
  true, 'the third is admitted');
create temporary table refused as
  select * from private.rate_limit(array['\x01'::bytea], array[3], array[60000]);
select is((select allowed from refused), false, 'the fourth within the period is refused');
select ok((select retry_after_ms from refused) between 19000 and 20000,
  'it may retry when one request has refilled (period / limit)');
select is((select count(*)::int from private.rate_limits), 1, 'one row per key');

create temporary table before_refusal as select tat from private.rate_limits where key = '\x01';
select private.rate_limit(array['\x01'::bytea], array[3], array[60000]) from generate_series(1, 5);
select is((select tat from private.rate_limits where key = '\x01'), (select tat from before_refusal),
  'refused requests change nothing');

-- Two policies: the exhausted one refuses, and the other is not charged.
select is(
  (select array_agg(allowed) from private.rate_limit(array['\x02'::bytea, '\x01'::bytea],
                                                       array[10, 3], array[60000, 60000])),
  array[false, false], 'one exhausted policy refuses the request under both');
select is((select count(*)::int from private.rate_limits where key = '\x02'), 0,
  'and the other policy was not charged');
select is(
  (select array_agg(remaining) from private.rate_limit(array['\x02'::bytea, '\x03'::bytea],
                                                       array[10, 5], array[60000, 60000])),
  array[9, 4], 'with room in both, both are charged');

update private.rate_limits set tat = now() - interval '1 second' where key = '\x02';
select is(private.prune_rate_limits(), 1::bigint, 'cleanup removes full buckets only');
select is((select schedule from cron.job where jobname = 'rate-limit-cleanup'), '*/10 * * * *',
  'cleanup runs every 10 minutes');

select * from finish();
rollback;
