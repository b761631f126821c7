-- A stream's max-deleted-entry-id, '0-0' when it does not exist. A script, so that the client's key
-- prefix applies to the key (ioredis leaves the key inside XINFO alone).
if redis.call('EXISTS', KEY.stream) == 0 then return '0-0' end
local info = redis.call('XINFO', 'STREAM', KEY.stream)
for i = 1, #info, 2 do
  if info[i] == 'max-deleted-entry-id' then return info[i + 1] end
end
return '0-0'
