-- A single-use value (single-use/index.ts): 1 the first time, 0 while it is remembered.
-- ARG.ttl: how long (ms) it is remembered, from the service's clock's now to the value's expiry.
local created = redis.call('SET', KEY.used, '1', 'NX', 'PX', ARG.ttl)
if created then return 1 end
return 0
