-- Counts one more in the counter's window; the window starts with the first count, as
-- @fastify/rate-limit's does. Returns {count, ms until the window ends}.
local count = redis.call('INCR', KEY.counter)
if count == 1 then redis.call('PEXPIRE', KEY.counter, ARG.windowMs) end
return {count, redis.call('PTTL', KEY.counter)}
