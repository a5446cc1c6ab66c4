-- API rate limiting: atomic decisions with the database clock, for every policy that applies to
-- a request. Algorithm: GCRA (a token bucket kept as one timestamp per key), so state is O(1)
-- per active key and a request may cost more than one unit. One call decides a whole batch of
-- requests (a function instance gathers the decisions waiting at that moment), in order, each
-- exactly as if it had come alone: concurrent requests are counted exactly under a lock per key,
-- and a batch in which nothing can be admitted is decided on a plain read, taking no lock and
-- writing nothing (the cheap path for an abusive client).
--
-- Each bucket is judged with a clock read no earlier than the state it is judged on: a clock
-- read before another transaction's newer tat was seen would find the bucket fuller than it is
-- and refuse although the limit had room (under-admission, seen with 2 per 60 s). So the plain
-- read is judged with the clock read after it, and the locked pass with the clock read after the
-- locks were taken.
--
-- The table is UNLOGGED: no WAL per request, at the price that buckets reset to full after a
-- crash of Postgres (never after a clean restart). Losing a minute of rate-limit history in a
-- crash is an acceptable trade for halving the cost of every request.

create unlogged table private.rate_limits (
  key bytea primary key,
  -- Theoretical arrival time: when the bucket will be full again. In the past = full.
  tat timestamptz not null
);
comment on table private.rate_limits is
  'Rate-limit state, one row per active (policy, client) key, keyed by a SHA-256 hash. Unlogged.';
alter table private.rate_limits enable row level security;

-- Entry e names one (request, policy): requests[e] numbers the request (ascending, entries of a
-- request together), keys/limits/periods_ms its bucket, costs[e] what the request costs (the same
-- on each of its entries). A request is admitted when its cost fits in every bucket it names, and
-- then charged to all of them; requests are decided in order, so n requests for one key admit as
-- many as fit. One row per entry comes back, in order.
create function private.rate_limit(
  requests integer[],
  keys bytea[],
  limits integer[],
  periods_ms integer[],
  costs integer[]
) returns table (
  request integer,
  allowed boolean,
  remaining integer,
  reset_ms integer,
  retry_after_ms integer
)
language plpgsql
set search_path = ''
-- Every lookup here is by primary key. A plan cached while the unlogged table was nearly empty
-- (a fresh database, before autovacuum's first analyze) scanned it whole and hashed it, at every
-- call, once it held thousands of buckets: measured 8,000 decisions/s falling to 1,200.
set enable_seqscan = off
as $$
declare
  m integer := coalesce(array_length(keys, 1), 0);
  distinct_keys bytea[];
  slot integer[];
  tats timestamptz[];
  new_tats timestamptz[];
  now_ts timestamptz;
  locked boolean := false;
  any_admitted boolean;
  ok boolean;
  emission double precision;
  ahead double precision;
  i integer;
  j integer;
  out_allowed boolean[];
  out_remaining integer[];
  out_reset integer[];
  out_retry integer[];
begin
  if m = 0 or array_length(requests, 1) is distinct from m or array_length(limits, 1) is distinct from m
     or array_length(periods_ms, 1) is distinct from m or array_length(costs, 1) is distinct from m then
    raise exception 'rate_limit: requests, keys, limits, periods_ms and costs must have the same, non-zero length';
  end if;
  if exists (select 1 from unnest(limits, periods_ms, costs) as x(l, p, c) where l < 1 or p < 1 or c < 1) then
    raise exception 'rate_limit: limits, periods_ms and costs must be positive';
  end if;
  select array_agg(d.k order by d.k) into distinct_keys from (select distinct k from unnest(keys) k) d;
  -- Each entry's bucket: its key's position among distinct_keys.
  select array_agg(d.o::integer order by u.o) into slot
    from unnest(keys) with ordinality as u(k, o)
    join unnest(distinct_keys) with ordinality as d(k, o) on d.k = u.k;
  loop
    -- The first pass reads without a lock and writes nothing; the second, under the locks.
    select array_agg(r.tat order by d.o) into tats
      from unnest(distinct_keys) with ordinality as d(k, o)
      left join private.rate_limits r on r.key = d.k;
    now_ts := clock_timestamp();
    new_tats := tats;
    any_admitted := false;
    i := 1;
    while i <= m loop
      j := i;
      while j < m and requests[j + 1] = requests[i] loop
        j := j + 1;
      end loop;
      ok := true;
      for e in i .. j loop
        emission := periods_ms[e]::double precision / limits[e];
        ahead := extract(epoch from (greatest(new_tats[slot[e]], now_ts) - now_ts)) * 1000;
        -- 1 µs of slack: timestamps are kept to the microsecond, limit/period rarely divides evenly.
        if ahead + costs[e] * emission > periods_ms[e] + 0.001 then
          ok := false;
        end if;
      end loop;
      for e in i .. j loop
        emission := periods_ms[e]::double precision / limits[e];
        if ok then
          new_tats[slot[e]] := greatest(new_tats[slot[e]], now_ts)
                               + make_interval(secs => costs[e] * emission / 1000);
        end if;
        -- How far the bucket is from full, in ms, after this request (if it was admitted).
        ahead := extract(epoch from (greatest(new_tats[slot[e]], now_ts) - now_ts)) * 1000;
        out_allowed[e] := ok;
        out_remaining[e] := greatest(0, floor((periods_ms[e] - ahead + 0.001) / emission))::integer;
        out_reset[e] := ceil(ahead)::integer;
        out_retry[e] := case when ok then 0
                             else greatest(0, ceil(ahead + costs[e] * emission - periods_ms[e]))::integer end;
      end loop;
      any_admitted := any_admitted or ok;
      i := j + 1;
    end loop;
    -- Nothing fits on the plain read: nothing would under the locks either (buckets only fill).
    exit when locked or not any_admitted;

    -- Something fits: decide again holding a lock on each key, taken in key order so that
    -- concurrent batches cannot deadlock. Advisory (transaction-scoped, in memory), so a key
    -- with no row yet is locked too and each changed bucket is written once, by one upsert.
    -- The class number keeps these locks apart from any other advisory lock.
    perform pg_advisory_xact_lock(1380730955, ('x' || encode(substr(d.k, 1, 4), 'hex'))::bit(32)::integer)
       from unnest(distinct_keys) as d(k);
    locked := true;
  end loop;

  if locked then
    insert into private.rate_limits as r (key, tat)
    select u.k, u.new from unnest(distinct_keys, tats, new_tats) as u(k, old, new)
     where u.new is distinct from u.old
    on conflict on constraint rate_limits_pkey do update set tat = excluded.tat;
  end if;
  return query select * from unnest(requests, out_allowed, out_remaining, out_reset, out_retry);
end;
$$;
comment on function private.rate_limit(integer[], bytea[], integer[], integer[], integer[]) is
  'Decides a batch of rate-limited requests in order (per entry: request, key, limit per period, cost); one row per entry.';
revoke all on function private.rate_limit(integer[], bytea[], integer[], integer[], integer[]) from public;

create function private.prune_rate_limits()
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  removed bigint;
begin
  -- A bucket whose tat has passed is full: the same as no row at all. Rows a decision is
  -- writing right now are skipped (next time), so the cleanup never waits on one, nor one on it.
  delete from private.rate_limits r
   using (select key from private.rate_limits where tat < now() for update skip locked) full_bucket
   where r.key = full_bucket.key;
  get diagnostics removed = row_count;
  return removed;
end;
$$;
comment on function private.prune_rate_limits() is 'Deletes rate-limit rows of full buckets; returns how many.';
revoke all on function private.prune_rate_limits() from public;

select cron.schedule('rate-limit-cleanup', '*/10 * * * *', 'select private.prune_rate_limits()');
