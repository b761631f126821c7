-- The secret that signs the feed's subscription cursors: ARG.candidate (random) is kept if there is none.
redis.call('SET', KEY.cursor, ARG.candidate, 'NX')
return redis.call('GET', KEY.cursor)
