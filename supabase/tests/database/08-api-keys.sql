-- API keys: issued once in clear, stored only as a hash, revocable.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = public, extensions;
select plan(6);

create temporary table issued as select * from private.issue_api_key('cust_keys', 'ci');

select matches((select api_key from issued), '^jq_[A-Za-z0-9_-]{32}$', 'keys look like jq_...');
select is(
  (select key_hash from private.api_keys where id = (select id from issued)),
  extensions.digest((select api_key from issued), 'sha256'), 'the stored hash is SHA-256');
select is(
  (select count(*)::int from private.api_keys k, issued i
    where k.key_prefix = left(i.api_key, 10) and position(i.api_key in k::text) = 0),
  1, 'the key itself is stored nowhere in the row');
select isnt((select api_key from private.issue_api_key('cust_keys')), (select api_key from issued),
  'every key is new');
select ok(private.revoke_api_key((select id from issued)), 'an active key is revoked');
select ok(private.revoke_api_key((select id from issued)) is null, 'revoking twice does nothing');

select * from finish();
rollback;
