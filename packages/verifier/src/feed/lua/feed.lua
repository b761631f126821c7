-- The revocation feed (revocation-feed.ts). Keys: feedStream and feedGeneration, the shard's stream and
-- generation; argument feedKeep, how long (ms) an event is kept (only for publish).
-- publish(kind, id, untilMs, epoch) appends one event. generation() begins the shard's generation if
-- there is none (a new session or client epoch must never predate its generation), and answers it.
-- redisNowUs() is Redis' time in µs, as a string: 16 digits, more than a Lua number prints exactly.
local function redisNowMs()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
local function redisNowUs()
  local time = redis.call('TIME')
  return time[1] .. string.format('%06d', tonumber(time[2]))
end
local function generation()
  redis.call('SET', KEY.feedGeneration, redisNowUs(), 'NX')
  return redis.call('GET', KEY.feedGeneration)
end
local function publish(kind, id, untilMs, epoch)
  generation()
  local minId = math.max(0, redisNowMs() - tonumber(ARG.feedKeep))
  if epoch then
    redis.call('XADD', KEY.feedStream, 'MINID', '~', minId, '*', 'k', kind, 'i', id, 'u', untilMs, 'e', epoch)
  else
    redis.call('XADD', KEY.feedStream, 'MINID', '~', minId, '*', 'k', kind, 'i', id, 'u', untilMs)
  end
end
