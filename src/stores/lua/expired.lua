-- expired(expMs): whether Redis' own clock has reached expMs (redis-scripts.ts, LUA_EXPIRED).
local function expired(expMs)
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) >= tonumber(expMs)
end
