-- A new version of a record: every cached copy of it is stale from now on.
return redis.call('INCR', KEY.version)
