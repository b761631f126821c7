-- Ends every session of the user (mode 'all') or every one but sid (mode 'except'), and moves the
-- not-before forward when one is given (notBefore '' leaves it).
-- Returns {how many of the ended sessions were live, their sids...}.
local ended = {0}
local now = tonumber(ARG.now)
local function finish(sid)
  if live(ARG.sessionPrefix .. sid, now) then
    ended[1] = ended[1] + 1
    table.insert(ended, sid)
    publish('s', sid, ARG.eventsUntil)
  end
  drop(KEY.byRefresh, KEY.byCreation, ARG.sessionPrefix, sid)
end
for _, sid in ipairs(redis.call('ZRANGE', KEY.byRefresh, 0, -1)) do
  if ARG.mode == 'all' or sid ~= ARG.sid then finish(sid) end
end
if ARG.notBefore ~= '' then
  local current = tonumber(redis.call('GET', KEY.notBefore) or '')
  local garbageAt = math.max(redis.call('PEXPIRETIME', KEY.notBefore), tonumber(ARG.notBeforeGarbageAt))
  if current == nil or tonumber(ARG.notBefore) > current then
    redis.call('SET', KEY.notBefore, ARG.notBefore, 'PXAT', garbageAt)
  else
    redis.call('PEXPIREAT', KEY.notBefore, garbageAt)
  end
end
return ended
