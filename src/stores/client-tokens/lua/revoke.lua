-- Revokes one client token until its exp (ms).
redis.call('SET', KEY.token, 'r', 'PXAT', ARG.exp)
publish('j', ARG.jti, ARG.exp)
return 1
