-- Starts a session, unless the user's not-before is at or after the time the credentials were checked.
-- At maxSessions the least recently refreshed live sessions end to make room.
-- Returns {'refused'} or {'started', generation, evicted sid...}.
local gen = generation()
local notBefore = redis.call('GET', KEY.notBefore)
if notBefore and tonumber(notBefore) >= tonumber(ARG.checkedAt) then return {'refused'} end
local now = tonumber(ARG.now)
local cap = tonumber(ARG.maxSessions)
local result = {'started', gen}
if redis.call('ZCARD', KEY.byRefresh) >= cap then
  -- Sessions that ended without a script seeing them (their SESSION_TTL passed) lie at the old end of
  -- the creation order: collect them first, so that they do not take a place.
  while true do
    local oldest = redis.call('ZRANGE', KEY.byCreation, 0, 0)[1]
    if not oldest or live(ARG.sessionPrefix .. oldest, now) then break end
    drop(KEY.byRefresh, KEY.byCreation, ARG.sessionPrefix, oldest)
  end
  local excess = redis.call('ZCARD', KEY.byRefresh) - cap + 1
  if excess > 0 then
    for _, sid in ipairs(redis.call('ZRANGE', KEY.byRefresh, 0, excess - 1)) do
      if live(ARG.sessionPrefix .. sid, now) then
        table.insert(result, sid)
        publish('s', sid, ARG.eventsUntil)
      end
      drop(KEY.byRefresh, KEY.byCreation, ARG.sessionPrefix, sid)
    end
  end
end
redis.call('HSET', KEY.session, 'created_at', ARG.now, 'last_refreshed_at', ARG.now, 'auth_time', ARG.authTime,
  'expires_at', ARG.expiresAt, 'user_agent', ARG.userAgent, 'ip', ARG.ip, 'current', ARG.firstJti)
redis.call('PEXPIREAT', KEY.session, ARG.garbageAt)
redis.call('ZADD', KEY.byRefresh, ARG.now, ARG.sid)
redis.call('ZADD', KEY.byCreation, ARG.now, ARG.sid)
for _, key in ipairs({KEY.byRefresh, KEY.byCreation}) do
  if redis.call('PEXPIRETIME', key) < tonumber(ARG.garbageAt) then redis.call('PEXPIREAT', key, ARG.garbageAt) end
end
return result
