-- The counter's count and the ms until its window ends (-2 when nothing is counted).
return {tonumber(redis.call('GET', KEY.counter) or '0'), redis.call('PTTL', KEY.counter)}
