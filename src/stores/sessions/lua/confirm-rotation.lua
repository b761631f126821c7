-- Turns this attempt's pending state into its rotated state. Returns 1 when confirmed.
if redis.call('GET', KEY.token) ~= ARG.pendingState then return 0 end
redis.call('SET', KEY.token, ARG.rotatedState, 'KEEPTTL')
return 1
