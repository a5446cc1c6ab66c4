-- DEV-ONLY stand-in for pg_net, installed by the local stack only where the real extension is
-- missing. It mirrors the SQL API of pg_net 0.1x: net.http_get / net.http_post queue a request in
-- net.http_request_queue and return its id; the stack's pg_net runner (scripts/stack/pg_net_runner.ts)
-- sends it only after the transaction commits (it is woken by NOTIFY, which is delivered at
-- commit) and records the outcome in net._http_response, as pg_net's background worker does.

create schema if not exists net;
revoke all on schema net from public;

create unlogged table if not exists net.http_request_queue (
  id bigserial primary key,
  method text not null check (method in ('GET', 'POST', 'DELETE')),
  url text not null,
  headers jsonb not null,
  body bytea,
  timeout_milliseconds integer not null
);

create unlogged table if not exists net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz not null default now()
);
create index if not exists _http_response_created_idx on net._http_response (created);

create or replace function net._url_with_params(url text, params jsonb)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when coalesce(params, '{}'::jsonb) = '{}'::jsonb then url
    else url || case when strpos(url, '?') > 0 then '&' else '?' end || (
      select string_agg(
        pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(key, '%', '%25'), '&', '%26'), '=', '%3D')
        || '=' ||
        pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(value, '%', '%25'), '&', '%26'), '=', '%3D'),
        '&')
        from jsonb_each_text(params)
    )
  end;
$$;

create or replace function net._enqueue(
  method text, url text, headers jsonb, body bytea, timeout_milliseconds integer
) returns bigint
language plpgsql
set search_path = ''
as $$
declare
  request_id bigint;
begin
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values (method, url, coalesce(headers, '{}'::jsonb), body, timeout_milliseconds)
  returning id into request_id;
  -- NOTIFY is delivered only when the transaction commits: a rolled-back request is never sent.
  perform pg_notify('pg_net_standin', request_id::text);
  return request_id;
end;
$$;

create or replace function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language sql
set search_path = ''
as $$
  select net._enqueue('GET', net._url_with_params(url, params), headers, null, timeout_milliseconds);
$$;

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language plpgsql
set search_path = ''
as $$
begin
  if not exists (select 1 from jsonb_object_keys(coalesce(headers, '{}'::jsonb)) k
                  where lower(k) = 'content-type') then
    headers := coalesce(headers, '{}'::jsonb) || '{"Content-Type": "application/json"}'::jsonb;
  end if;
  return net._enqueue('POST', net._url_with_params(url, params), headers,
                      convert_to(body::text, 'UTF8'), timeout_milliseconds);
end;
$$;

create or replace function net.http_delete(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language sql
set search_path = ''
as $$
  select net._enqueue('DELETE', net._url_with_params(url, params), headers, null, timeout_milliseconds);
$$;

revoke all on all tables in schema net from public;
revoke all on all functions in schema net from public;
