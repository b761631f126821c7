-- Turns this attempt's pending state into its rotated state, and makes the child the session's current token
-- (what a refresh after expiry asks: rotate.lua). Returns 1 when confirmed.
if redis.call('GET', KEY.token) ~= ARG.pendingState then return 0 end
redis.call('SET', KEY.token, ARG.rotatedState, 'KEEPTTL')
if redis.call('EXISTS', KEY.session) == 1 then redis.call('HSET', KEY.session, 'current', ARG.childJti) end
return 1
