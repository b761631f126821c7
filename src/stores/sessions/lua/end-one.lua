-- Ends one session (DELETE /api/sessions/:id) and marks its end until it is acknowledged.
-- Returns 1 when the session was live, or its end is still unacknowledged (a retry: it is repeated).
local now = tonumber(ARG.now)
local ended = live(ARG.sessionPrefix .. ARG.sid, now) or (tonumber(redis.call('GET', KEY.ended)) or 0) > now
drop(KEY.byRefresh, KEY.byCreation, ARG.sessionPrefix, ARG.sid)
if not ended then return 0 end
redis.call('SET', KEY.ended, ARG.pendingUntil, 'PXAT', tonumber(ARG.pendingUntil) + tonumber(ARG.garbageDelay))
publish('s', ARG.sid, ARG.eventsUntil)
return 1
