-- A logout's end was acknowledged: l becomes r.
if redis.call('GET', KEY.token) ~= 'l' then return 0 end
redis.call('SET', KEY.token, 'r', 'KEEPTTL')
return 1
