-- Rolls back 20261122193000_rate_limit_lock_time.sql: nothing to undo. That migration only
-- replaced the bodies of private.rate_limit() and private.rate_limit_one() (same signatures)
-- with a fix for under-admission under concurrency; putting the old bodies back would bring
-- the bug back and buy nothing. Rolling back further (20261122180000) drops both functions.
select 1;
