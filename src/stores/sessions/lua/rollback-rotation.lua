-- Undoes this attempt's rotation if the state still holds its value. Returns 1 when restored.
local state = redis.call('GET', KEY.token)
if state ~= ARG.pendingState and state ~= ARG.rotatedState then return 0 end
redis.call('DEL', KEY.token, KEY.grace)
publish('a', ARG.jti, 0)
return 1
