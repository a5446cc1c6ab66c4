-- An alert's "was" is the depth the last alert reported, the one the operator saw, not the depth
-- the last check saw: growth is judged against the alerted depth, so "went from 3 to 3" was
-- possible when the queue grew from 2 to 3 inside the quiet period after an alert at 2.
-- Replaces private.decide_dlq_alert from 20261122200000_dlq_monitor: only previous_depth changes.
create or replace function private.decide_dlq_alert(depth integer)
returns private.dlq_alert_decision
language plpgsql
set search_path = ''
as $$
declare
  state private.dlq_monitor;
  settings private.settings;
  result private.dlq_alert_decision;
begin
  if depth is null or depth < 0 then
    raise exception 'decide_dlq_alert: depth must be a non-negative integer';
  end if;
  -- The row lock serializes concurrent checks: each alert is decided once.
  select * into state from private.dlq_monitor for update;
  select * into settings from private.settings;
  -- What the last alert of this incident reported; before the first, what the last check saw.
  result.previous_depth := coalesce(state.alerted_depth, state.depth);

  if depth > 0 then
    if state.incident_since is null then
      result.alert := 'dlq_triggered';
      state.incident_since := now();
    elsif depth > coalesce(state.alerted_depth, 0)
          and state.alerted_at <= now() - make_interval(secs => settings.dlq_growth_alert_seconds) then
      result.alert := 'dlq_grew';
    elsif state.alerted_at <= now() - make_interval(secs => settings.dlq_remind_seconds) then
      result.alert := 'dlq_reminder';
    end if;
    state.empty_checks := 0;
  elsif state.incident_since is not null then
    state.empty_checks := state.empty_checks + 1;
    if state.empty_checks >= settings.dlq_resolve_after_checks then
      result.alert := 'dlq_resolved';
    end if;
  end if;
  result.incident_since := state.incident_since;

  update private.dlq_monitor m
     set depth = decide_dlq_alert.depth,
         checked_at = now(),
         empty_checks = case when result.alert = 'dlq_resolved' then 0 else state.empty_checks end,
         incident_since = case when result.alert = 'dlq_resolved' then null
                               else state.incident_since end,
         alerted_depth = case when result.alert = 'dlq_resolved' then null
                              when result.alert is not null then decide_dlq_alert.depth
                              else m.alerted_depth end,
         alerted_at = case when result.alert = 'dlq_resolved' then null
                           when result.alert is not null then now()
                           else m.alerted_at end;
  return result;
end;
$$;
comment on function private.decide_dlq_alert(integer) is
  'Records the DLQ depth one check saw and says which alert to raise, if any, with the depth the last alert reported (the alert policy; state in private.dlq_monitor).';
