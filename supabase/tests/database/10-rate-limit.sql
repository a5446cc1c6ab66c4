-- private.rate_limit(): GCRA per key, all policies or none, batches decided in order as if one by
-- one, costs, and refusals that write nothing.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(19);

delete from private.rate_limits;

-- One request against one policy (key, limit per 60 s), as the functions send it alone.
create function pg_temp.one(key bytea, lim integer, cost integer default 1)
returns table (allowed boolean, remaining integer, reset_ms integer, retry_after_ms integer)
language sql as $$
  select allowed, remaining, reset_ms, retry_after_ms
    from private.rate_limit(array[1], array[key], array[lim], array[60000], array[cost]);
$$;

select is((select allowed from pg_temp.one('\x01', 3)), true, 'the first request is admitted');
select is((select remaining from pg_temp.one('\x01', 3)), 1, 'the second leaves one');
select is((select allowed from pg_temp.one('\x01', 3)), true, 'the third is admitted');
create temporary table refused as select * from pg_temp.one('\x01', 3);
select is((select allowed from refused), false, 'the fourth within the period is refused');
select ok((select retry_after_ms from refused) between 19000 and 20000,
  'it may retry when one request has refilled (period / limit)');
select is((select count(*)::int from private.rate_limits), 1, 'one row per key');

create temporary table before_refusal as select tat from private.rate_limits where key = '\x01';
select pg_temp.one('\x01', 3) from generate_series(1, 5);
select is((select tat from private.rate_limits where key = '\x01'), (select tat from before_refusal),
  'refused requests change nothing');

-- Two policies: the exhausted one refuses, and the other is not charged.
select is(
  (select array_agg(allowed) from private.rate_limit(array[1, 1], array['\x02'::bytea, '\x01'],
                                                       array[10, 3], array[60000, 60000], array[1, 1])),
  array[false, false], 'one exhausted policy refuses the request under both');
select is((select count(*)::int from private.rate_limits where key = '\x02'), 0,
  'and the other policy was not charged');
select is(
  (select array_agg(remaining) from private.rate_limit(array[1, 1], array['\x02'::bytea, '\x03'],
                                                       array[10, 5], array[60000, 60000], array[1, 1])),
  array[9, 4], 'with room in both, both are charged');

-- A batch: ten requests for one key with room for four admit the first four, in order.
select is(
  (select array_agg(allowed order by request)
     from private.rate_limit(array[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], array_fill('\x04'::bytea, array[10]),
                             array_fill(4, array[10]), array_fill(60000, array[10]),
                             array_fill(1, array[10]))),
  array[true, true, true, true, false, false, false, false, false, false],
  'n requests for one key admit as many as fit, first come first served');
select is(
  (select array_agg(allowed order by request)
     from private.rate_limit(array[1, 2, 3], array['\x05'::bytea, '\x04', '\x05'],
                             array[1, 4, 1], array[60000, 60000, 60000], array[1, 1, 1])),
  array[true, false, false], 'keys in one batch are decided each on its own bucket');

-- Costs: a request costing 3 takes three units, or none.
select is((select row(allowed, remaining)::text from pg_temp.one('\x06', 5, 3)),
  row(true, 2)::text, 'a request costing 3 takes three of five');
select is((select row(allowed, remaining)::text from pg_temp.one('\x06', 5, 3)),
  row(false, 2)::text, 'the next costing 3 does not fit and takes nothing');
select is((select allowed from pg_temp.one('\x06', 5, 2)), true, 'one costing 2 still fits');
select throws_ok($$select * from pg_temp.one('\x07', 5, 0)$$, 'P0001',
  'rate_limit: limits, periods_ms and costs must be positive', 'a cost of zero is refused');
select throws_ok($$select * from private.rate_limit(array[1], array['\x07'::bytea], array[5], array[60000], array[]::integer[])$$,
  'P0001', 'rate_limit: requests, keys, limits, periods_ms and costs must have the same, non-zero length',
  'arrays of different lengths are refused');

update private.rate_limits set tat = now() - interval '1 second' where key = '\x02';
select is(private.prune_rate_limits(), 1::bigint, 'cleanup removes full buckets only');
select is((select schedule from cron.job where jobname = 'rate-limit-cleanup'), '*/10 * * * *',
  'cleanup runs every 10 minutes');

select * from finish();
rollback;
