-- Rolls back 20261122180000_rate_limiting.sql. The queue and health functions call
-- private.rate_limit(): without it no request can be decided and every rate-limited request
-- is answered 503. Roll back the functions first.
select cron.unschedule('rate-limit-cleanup');
drop function private.prune_rate_limits();
drop function private.rate_limit(integer[], bytea[], integer[], integer[], integer[]);
drop table private.rate_limits;
