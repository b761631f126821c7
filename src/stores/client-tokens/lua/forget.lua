-- Refuses every token of the client issued so far: a new epoch, not-before.ts nextEpoch by Redis' clock.
-- Returns the new epoch.
local time = redis.call('TIME')
local epoch = (tonumber(time[1]) + 1) * 1000000
local previous = tonumber(redis.call('GET', KEY.epoch) or '0')
if previous >= epoch then epoch = previous + 1 end
epoch = string.format('%.0f', epoch)
redis.call('SET', KEY.epoch, epoch, 'PXAT', ARG.garbageAt)
publish('c', ARG.clientId, ARG.eventsUntil, epoch)
return epoch
