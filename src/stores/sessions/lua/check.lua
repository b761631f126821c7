-- The per-request check of a user token. Returns 0 when the token may pass, 3 when it is ending (its
-- logout awaits acknowledgement), 1 when it is revoked or expired, 2 when its session has ended.
if expired(ARG.exp) then return 1 end
local now = tonumber(ARG.now)
local state = redis.call('GET', KEY.token)
if state and not dead(state, now) then
  if state == 'l' then return 3 end
  return 1
end
if not live(KEY.session, now) then return 2 end
return 0
