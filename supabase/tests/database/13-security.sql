-- Security over everything the migrations made, not a list that can fall behind: no table or
-- view in public or private is readable or writable by anon or authenticated, every table has
-- row level security, and every function of ours runs for service_role (or the owner) only.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(8);

create temporary table our_relations as
select c.oid::regclass as rel, c.relkind
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where n.nspname in ('public', 'private') and c.relkind in ('r', 'p', 'v', 'm');

create temporary table our_functions as
select p.oid::regprocedure as fn, n.nspname as schema
  from pg_proc p join pg_namespace n on n.oid = p.pronamespace
 where n.nspname in ('public', 'private') and p.prokind = 'f';

select ok((select count(*) from our_relations) >= 13, 'the check sees our tables and views');
select ok((select count(*) from our_functions) >= 28, 'and our functions');

select is(
  (select array_agg(rel::text order by rel::text) from our_relations r, unnest(array['anon', 'authenticated']) role
    where has_table_privilege(role, r.rel, 'select, insert, update, delete, truncate, references, trigger')),
  null, 'anon and authenticated have no privilege on any table or view');
select is(
  (select array_agg(c.oid::regclass::text order by c.oid::regclass::text)
     from pg_class c join pg_namespace n on n.oid = c.relnamespace,
          unnest(array['anon', 'authenticated']) role
    where n.nspname in ('public', 'private') and c.relkind = 'S'
      and has_sequence_privilege(role, c.oid, 'usage, select, update')),
  null, 'anon and authenticated can use no sequence either');
select is(
  (select array_agg(rel::text order by rel::text) from our_relations r
    join pg_class c on c.oid = r.rel where r.relkind in ('r', 'p') and not c.relrowsecurity),
  null, 'every table has row level security');
select is(
  (select array_agg(fn::text order by fn::text) from our_functions f, unnest(array['anon', 'authenticated']) role
    where has_function_privilege(role, f.fn, 'execute')
      -- Trigger functions cannot be called directly; nothing else is exempt.
      and (select prorettype from pg_proc where oid = f.fn) <> 'trigger'::regtype),
  null, 'anon and authenticated can execute none of our functions');
select is(
  (select array_agg(fn::text order by fn::text) from our_functions f
    where f.schema = 'public' and not has_function_privilege('service_role', f.fn, 'execute')),
  null, 'service_role can execute every public function (the worker contract, stale recovery)');
select is(
  (select array_agg(fn::text order by fn::text) from our_functions f
    where f.schema = 'private' and has_function_privilege('service_role', f.fn, 'execute')),
  null, 'service_role cannot execute the private helpers (only the owner and pg_cron do)');

select * from finish();
rollback;
