-- Rolls back 20261122180000_rate_limiting.sql. The queue and health functions call
-- private.rate_limit*(): without them every request falls back to the in-memory limiter
-- (or 503 for fail-closed policies). Roll back the functions first.
select cron.unschedule('rate-limit-cleanup');
drop function private.prune_rate_limits();
drop function private.rate_limit_one(bytea, integer, integer);
drop function private.rate_limit(bytea[], integer[], integer[]);
drop table private.rate_limits;
