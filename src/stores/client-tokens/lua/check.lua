-- The per-request check of a client token: not revoked, not expired, and of the client's current epoch
-- (a token without an epoch claim: issued in or after the epoch's second). Returns 0 when it may pass.
if redis.call('EXISTS', KEY.token) == 1 or expired(ARG.exp) then return 1 end
local epoch = redis.call('GET', KEY.epoch)
if not epoch then return 2 end
if ARG.epoch == '' then
  if markerSeconds(tonumber(epoch)) > tonumber(ARG.iat) then return 2 end
elseif epoch ~= ARG.epoch then
  return 2
end
return 0
