-- A session's end was acknowledged: its marker goes.
return redis.call('DEL', KEY.ended)
