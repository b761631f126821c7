-- The client-authentication gate (counters.ts, ClientGate). Returns {0} to pass, {1, ttl} when limited
-- by failures, {2, ttl} when limited by grants.
local failures = tonumber(redis.call('GET', KEY.failures) or '0')
if failures >= tonumber(ARG.maxFailures) then return {1, redis.call('PTTL', KEY.failures)} end
if ARG.outcome == 'failed' then
  if redis.call('INCR', KEY.failures) == 1 then redis.call('PEXPIRE', KEY.failures, ARG.windowMs) end
  return {0}
end
if ARG.grant == '1' then
  local grants = redis.call('INCR', KEY.grants)
  if grants == 1 then redis.call('PEXPIRE', KEY.grants, ARG.windowMs) end
  if grants > tonumber(ARG.maxGrants) then return {2, redis.call('PTTL', KEY.grants)} end
end
return {0}
