-- API rate limiting: one atomic decision per request, for every policy that applies to it,
-- with the database clock. Algorithm: GCRA (a token bucket kept as one timestamp per key), so
-- state is O(1) per active key, concurrent requests are counted exactly (a guarded upsert
-- under the row lock), and a refused request writes nothing (it is decided by a plain read).
--
-- Each bucket is judged with a clock read no earlier than the state it is judged on. Two
-- concurrent requests for one key each read the clock when the call began; the one that read it
-- first could see the other's newer tat (on the plain read, or under the row lock) and, measured
-- against its earlier clock, find the bucket fuller than it was: refused although the limit had
-- room (under-admission, seen with 2 per 60 s). So the plain read's decision uses the clock read
-- after that read, and the guarded upsert uses clock_timestamp() under the row lock.
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

create function private.rate_limit(keys bytea[], limits integer[], periods_ms integer[])
returns table (allowed boolean, remaining integer, reset_ms integer, retry_after_ms integer)
language plpgsql
set search_path = ''
as $$
declare
  n integer := coalesce(array_length(keys, 1), 0);
  now_ts timestamptz := clock_timestamp();
  tats timestamptz[];
  emission double precision;
  ahead double precision;
  new_tat timestamptz;
  ok boolean := true;
  i integer;
begin
  if n = 0 or array_length(limits, 1) is distinct from n or array_length(periods_ms, 1) is distinct from n then
    raise exception 'rate_limit: keys, limits and periods_ms must have the same, non-zero length';
  end if;

  -- Decide on a plain read: a refused request takes no lock and writes nothing. The clock is
  -- read after it, so it is never older than a tat the read saw.
  select array_agg(r.tat order by k.ord) into tats
    from unnest(keys) with ordinality as k(key, ord)
    left join private.rate_limits r on r.key = k.key;
  now_ts := clock_timestamp();
  for i in 1 .. n loop
    emission := periods_ms[i]::double precision / limits[i];
    ahead := extract(epoch from (greatest(tats[i], now_ts) - now_ts)) * 1000 + emission;
    -- 1 µs of slack: timestamps are kept to the microsecond, limit/period rarely divides evenly.
    if ahead > periods_ms[i] + 0.001 then
      ok := false;
    end if;
  end loop;

  if ok then
    -- Consume from every bucket, each re-checked under its row lock with the clock read there
    -- (exact under concurrency). All consume or none: a refusal rolls the others back.
    begin
      for i in select o.i from unnest(keys) with ordinality as o(key, i) order by o.key loop
        emission := periods_ms[i]::double precision / limits[i];
        insert into private.rate_limits as r (key, tat)
        values (keys[i], clock_timestamp() + make_interval(secs => emission / 1000))
        on conflict (key) do update
          set tat = greatest(r.tat, clock_timestamp()) + make_interval(secs => emission / 1000)
          where extract(epoch from (r.tat - clock_timestamp())) * 1000 + emission
                <= periods_ms[i] + 0.001
        returning r.tat into new_tat;
        if new_tat is null then
          raise exception using errcode = 'RL429', message = 'rate limit reached concurrently';
        end if;
        tats[i] := new_tat;
        new_tat := null;
      end loop;
    exception when sqlstate 'RL429' then
      ok := false;
      select array_agg(r.tat order by k.ord) into tats
        from unnest(keys) with ordinality as k(key, ord)
        left join private.rate_limits r on r.key = k.key;
    end;
    now_ts := clock_timestamp();
  end if;

  for i in 1 .. n loop
    emission := periods_ms[i]::double precision / limits[i];
    -- How far the bucket is from full, in ms, after this request (if it was admitted).
    ahead := greatest(0, extract(epoch from (coalesce(tats[i], now_ts) - now_ts)) * 1000);
    allowed := ok;
    remaining := greatest(0, floor((periods_ms[i] - ahead + 0.001) / emission))::integer;
    reset_ms := ceil(ahead)::integer;
    retry_after_ms := case when ok then 0
                           else greatest(0, ceil(ahead + emission - periods_ms[i]))::integer end;
    return next;
  end loop;
end;
$$;
comment on function private.rate_limit(bytea[], integer[], integer[]) is
  'Admits a request under every policy given (key, limit per period) or under none; one row per policy.';
revoke all on function private.rate_limit(bytea[], integer[], integer[]) from public;

-- The common case, one policy, without the multi-policy bookkeeping: a refusal is decided on
-- a plain read (no lock, no write); an admission is one upsert whose guard re-checks under the
-- row lock, so concurrent requests are counted exactly. PL/pgSQL so the plans are cached.
create function private.rate_limit_one(key bytea, lim integer, period_ms integer)
returns table (allowed boolean, remaining integer, reset_ms integer, retry_after_ms integer)
language plpgsql
set search_path = ''
as $$
declare
  now_ts timestamptz := clock_timestamp();
  emission double precision := period_ms::double precision / lim;
  current_tat timestamptz;
  new_tat timestamptz;
  ahead double precision;
begin
  select r.tat into current_tat from private.rate_limits r where r.key = rate_limit_one.key;
  -- Read after the row, so never older than the tat it holds.
  now_ts := clock_timestamp();
  ahead := greatest(0, extract(epoch from (current_tat - now_ts)) * 1000);
  if ahead + emission <= period_ms + 0.001 then
    insert into private.rate_limits as r (key, tat)
    values (rate_limit_one.key, clock_timestamp() + make_interval(secs => emission / 1000))
    on conflict on constraint rate_limits_pkey do update
      set tat = greatest(r.tat, clock_timestamp()) + make_interval(secs => emission / 1000)
      where extract(epoch from (r.tat - clock_timestamp())) * 1000 + emission <= period_ms + 0.001
    returning r.tat into new_tat;
    now_ts := clock_timestamp();
    if new_tat is null then
      -- Refused by the guard: a concurrent request took the last slot; report its state.
      select r.tat into current_tat from private.rate_limits r where r.key = rate_limit_one.key;
      ahead := greatest(0, extract(epoch from (current_tat - now_ts)) * 1000);
    else
      ahead := greatest(0, extract(epoch from (new_tat - now_ts)) * 1000);
    end if;
  end if;
  return query select new_tat is not null,
                      greatest(0, floor((period_ms - ahead + 0.001) / emission))::integer,
                      ceil(ahead)::integer,
                      case when new_tat is not null then 0
                           else greatest(0, ceil(ahead + emission - period_ms))::integer end;
end;
$$;
comment on function private.rate_limit_one(bytea, integer, integer) is
  'private.rate_limit() for a single policy, on the fast path.';
revoke all on function private.rate_limit_one(bytea, integer, integer) from public;

create function private.prune_rate_limits()
returns bigint
language plpgsql
set search_path = ''
as $$
declare
  removed bigint;
begin
  -- A bucket whose tat has passed is full: the same as no row at all.
  delete from private.rate_limits where tat < now();
  get diagnostics removed = row_count;
  return removed;
end;
$$;
comment on function private.prune_rate_limits() is 'Deletes rate-limit rows of full buckets; returns how many.';
revoke all on function private.prune_rate_limits() from public;

select cron.schedule('rate-limit-cleanup', '*/10 * * * *', 'select private.prune_rate_limits()');
