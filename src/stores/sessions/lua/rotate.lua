-- A refresh. The whole decision is one script, so two refreshes of one token can never both rotate it.
-- A token of another generation than the shard's is refused (the child carries the parent's).
-- Returns {'rotated'}, {'repeated', sealed child}, {'pending'}, {'reused'} or {'revoked'}.
-- ARG.exp is the parent's exp, ARG.usableUntil its exp plus REFRESH_AFTER_EXPIRY (the same without it).
if expired(ARG.usableUntil) then return {'revoked'} end
if ARG.generation ~= '' and redis.call('GET', KEY.feedGeneration) ~= ARG.generation then return {'revoked'} end
local now = tonumber(ARG.now)
local grace = tonumber(ARG.graceMs)
local state = redis.call('GET', KEY.token)
if state and string.sub(state, 1, 2) == 'p:' then
  if not dead(state, now) then return {'pending'} end
  state = false
end
local alive = live(KEY.session, now)
if state and string.sub(state, 1, 1) == 'x' and alive then
  local graceEnds = string.match(state, '^x:(%d+)') or '0'
  if now < tonumber(graceEnds) then
    local child = redis.call('GET', KEY.grace)
    -- No child within the grace: REFRESH_GRACE=0 and a request that began before the rotation (a late one).
    if not child then return {'revoked'} end
    -- Handed out from now on: no rollback may undo this rotation, and this write makes WAIT cover it.
    redis.call('SET', KEY.token, 'x:' .. graceEnds, 'KEEPTTL')
    return {'repeated', child}
  end
  drop(KEY.byRefresh, KEY.byCreation, ARG.sessionPrefix, ARG.sid)
  publish('s', ARG.sid, ARG.eventsUntil)
  return {'reused'}
end
if state or not alive then return {'revoked'} end
-- Past its exp (REFRESH_AFTER_EXPIRY), only the session's current token rotates: an older one whose rotated state
-- has lapsed finds another current token here (sessions begun before `current` existed have none).
if tonumber(ARG.now) >= tonumber(ARG.exp) and redis.call('HGET', KEY.session, 'current') ~= ARG.jti then return {'revoked'} end
redis.call('SET', KEY.token, ARG.pendingState, 'PXAT', ARG.usableUntil)
if grace > 0 then
  redis.call('SET', KEY.grace, ARG.sealedChild, 'PXAT', tonumber(ARG.pendingUntil) + grace + tonumber(ARG.garbageDelay))
else
  redis.call('DEL', KEY.grace)
end
redis.call('HSET', KEY.session, 'last_refreshed_at', ARG.now)
redis.call('ZADD', KEY.byRefresh, 'XX', ARG.now, ARG.sid)
publish('j', ARG.jti, ARG.usableUntil)
return {'rotated'}
