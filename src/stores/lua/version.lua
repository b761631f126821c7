-- A record's version (record-versions.ts); nil for one never changed.
return redis.call('GET', KEY.version)
