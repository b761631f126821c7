-- The user's sessions (sessions/redis.ts). live(key, now): a session is live while its record exists
-- and has not reached expires_at. drop(byRefresh, byCreation, prefix, sid) ends one session and removes
-- it from both indexes; prefix is the key prefix of the user's sessions, the client's prefix included
-- (these keys are built here, in the index's slot).
local function live(key, now)
  local expiresAt = redis.call('HGET', key, 'expires_at')
  return expiresAt ~= false and tonumber(expiresAt) > now
end
local function drop(byRefresh, byCreation, prefix, sid)
  redis.call('DEL', prefix .. sid)
  redis.call('ZREM', byRefresh, sid)
  redis.call('ZREM', byCreation, sid)
end
