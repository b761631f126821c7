-- The client's epoch, begun by Redis' clock if there is none, kept at least until keepUntil (ms).
-- Returns {epoch, generation}.
local gen = generation()
redis.call('SET', KEY.epoch, redisNowUs(), 'NX')
if redis.call('PEXPIRETIME', KEY.epoch) < tonumber(ARG.keepUntil) then redis.call('PEXPIREAT', KEY.epoch, ARG.keepUntil) end
return {redis.call('GET', KEY.epoch), gen}
