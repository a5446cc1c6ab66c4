-- Rolls back 20261122190000_health_snapshot.sql. GET /health needs it: roll back the functions
-- first (or deploy an older health function).
drop function private.health_snapshot();
drop type private.cron_job_state, private.integration_problem;
drop table private.integration_status;
