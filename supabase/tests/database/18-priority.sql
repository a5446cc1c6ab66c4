-- Priority tiers: enqueue_requests resolves a tier name (any case) to its number in the same call,
-- gives a job without priority_level the default tier, keeps a number as a number, and refuses an
-- unknown name before writing anything. Replays compare a tier by name. The mapping is plain SQL.
-- Priority lanes: a job's number decides its lane at enqueue (bands in private.priority_lanes),
-- kept on the job; take_outbox says each row's lane.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(23);

create temporary table answer as
  select * from private.enqueue_requests('[
    {"customer_id": "cust_tier", "items": [
      {"package_size": 1},
      {"package_size": 1, "priority_level": "Business"},
      {"package_size": 1, "priority_level": 4},
      {"package_size": 1, "priority_level": "pro", "idempotency_key": "t1"}]}
  ]'::jsonb, 0);
select results_eq(
  $$select item, outcome, priority_level::int, priority_tier from answer order by item$$,
  $$values (0, 'created', 3, 'starter'), (1, 'created', 7, 'business'), (2, 'created', 4, null),
           (3, 'created', 5, 'pro')$$,
  'a missing level is the default tier, a name is resolved in any case, a number stays a number');
select results_eq(
  $$select j.priority_level::int, j.priority_tier from answer a join public.jobs j on j.id = a.job_id
     order by a.item$$,
  $$values (3, 'starter'), (7, 'business'), (4, null::text), (5, 'pro')$$,
  'the jobs store the number and the tier');

-- An unknown tier: one row naming the first such item and the tiers there are; nothing written.
create temporary table jobs_before as select count(*)::int as n from public.jobs;
create temporary table refused as
  select * from private.enqueue_requests('[
    {"customer_id": "cust_tier", "batch_key": "tb1", "items": [
      {"package_size": 1, "priority_level": "starter"},
      {"package_size": 1, "priority_level": "gold"},
      {"package_size": 1, "priority_level": "silver"}]},
    {"customer_id": "cust_tier", "items": [{"package_size": 2, "priority_level": "enterprise"}]}
  ]'::jsonb, 0);
select results_eq(
  $$select request, item, outcome from refused order by request, item$$,
  $$values (0, 1, 'unknown_tier'), (1, 0, 'created')$$,
  'the request with an unknown tier is refused at its first unknown item; the other goes through');
select is((select known_tiers from refused where request = 0),
  array['starter', 'pro', 'business', 'enterprise'], 'the known tiers, lowest first');
select is((select count(*)::int from public.jobs) - (select n from jobs_before), 1,
  'only the other request''s job was written');
select is((select count(*)::int from private.enqueue_batches where idempotency_key = 'tb1'), 0,
  'the refused request kept no batch key');

-- Replays: a tier is compared by name, so a replay still matches after the mapping changed.
update private.priority_tiers set priority_level = 6 where name = 'pro';
select is((select outcome from private.enqueue_requests('[{"customer_id": "cust_tier", "items": [
    {"package_size": 1, "priority_level": "PRO", "idempotency_key": "t1"}]}]'::jsonb, 0)),
  'existing', 'the same tier (another case) after its number changed is a replay');
select is((select priority_level::int from private.enqueue_requests('[{"customer_id": "cust_tier",
    "items": [{"package_size": 1, "priority_level": "pro", "idempotency_key": "t1"}]}]'::jsonb, 0)),
  5, 'a replay answers the job as stored');
select is((select outcome from private.enqueue_requests('[{"customer_id": "cust_tier", "items": [
    {"package_size": 1, "priority_level": 5, "idempotency_key": "t1"}]}]'::jsonb, 0)),
  'conflict', 'the same number without the tier is another job');
select is((select outcome from private.enqueue_requests('[{"customer_id": "cust_tier", "items": [
    {"package_size": 1, "priority_level": "business", "idempotency_key": "t1"}]}]'::jsonb, 0)),
  'conflict', 'another tier is another job');
select is((select outcome from private.enqueue_requests('[{"customer_id": "cust_tier", "items": [
    {"package_size": 1, "idempotency_key": "t1"}]}]'::jsonb, 0)),
  'existing', 'a replay without priority_level matches whatever the job was given');
select is((select priority_level::int from private.enqueue_requests('[{"customer_id": "cust_tier",
    "items": [{"package_size": 1, "priority_level": "pro"}]}]'::jsonb, 0)),
  6, 'a new job gets the tier''s new number');

-- The mapping is plain SQL: a new tier, another default.
insert into private.priority_tiers (name, priority_level) values ('free', 1);
update private.settings set default_priority_tier = 'free';
select is((select priority_tier from private.enqueue_requests('[{"customer_id": "cust_tier",
    "items": [{"package_size": 1}]}]'::jsonb, 0)),
  'free', 'jobs without priority_level get the default tier named in the settings');
select throws_ok($$delete from private.priority_tiers where name = 'free'$$, '23503', null,
  'the default tier cannot be deleted');
select throws_ok($$insert into private.priority_tiers (name, priority_level) values ('Gold', 8)$$,
  '23514', null, 'tier names are lower case (they are matched in any case)');
select throws_ok($$insert into private.priority_tiers (name, priority_level) values ('gold', 11)$$,
  '23514', null, 'a tier stands for a number from 0 to 10');

-- The contract function: without a number, the default tier; with one, that number.
create temporary table by_fn as
  select (public.enqueue_job('cust_tier_fn', 1)).job_id as default_id,
         (public.enqueue_job('cust_tier_fn', 1, 8)).job_id as number_id;
select is((select j.priority_tier from public.jobs j join by_fn f on j.id = f.default_id),
  'free', 'enqueue_job without priority_level gives the default tier');
select is((select j.priority_level::int from public.jobs j join by_fn f on j.id = f.number_id),
  8, 'enqueue_job with a number keeps it');

-- Lanes: 0-1 low, 2-6 default, 7-10 high, as shipped.
create temporary table laned as
  select * from private.enqueue_requests('[{"customer_id": "cust_lane", "items": [
    {"package_size": 1, "priority_level": 0}, {"package_size": 1, "priority_level": 2},
    {"package_size": 1, "priority_level": 6}, {"package_size": 1, "priority_level": "business"},
    {"package_size": 1, "priority_level": 10}]}]'::jsonb, 0);
select results_eq($$select lane from laned order by item$$,
  $$values ('low'), ('default'), ('default'), ('high'), ('high')$$,
  'each number goes to its band''s lane');
select results_eq(
  $$select j.lane from laned l join public.jobs j on j.id = l.job_id order by l.item$$,
  $$values ('low'), ('default'), ('default'), ('high'), ('high')$$, 'and the job keeps it');
select results_eq(
  $$select t.lane from private.take_outbox(10, (select array_agg(outbox_id order by item) from laned)) t
     order by t.outbox_id$$,
  $$values ('low'), ('default'), ('default'), ('high'), ('high')$$,
  'take_outbox sends each row to its job''s lane');
delete from private.priority_lanes where name = 'low';
select is((select lane from private.enqueue_requests('[{"customer_id": "cust_lane",
    "items": [{"package_size": 1, "priority_level": 0}]}]'::jsonb, 0)),
  'default', 'a number below every band goes to the default lane');
select throws_ok($$insert into private.priority_lanes (name, min_level) values ('urgent', 9)$$,
  '23514', null, 'a lane is one of the queues there are');

select * from finish();
rollback;
