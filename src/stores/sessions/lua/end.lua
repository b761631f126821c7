-- A logout: the token is marked l (ending) until its end is acknowledged, and its session ends.
if redis.call('GET', KEY.token) ~= 'r' then redis.call('SET', KEY.token, 'l', 'PXAT', ARG.exp) end
drop(KEY.byRefresh, KEY.byCreation, ARG.sessionPrefix, ARG.sid)
publish('s', ARG.sid, ARG.eventsUntil)
return 1
