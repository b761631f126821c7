-- The probe of one feed shard (feed-reader.ts), as a script so that the client's key prefix applies to
-- both keys (ioredis prefixes the KEYS of a script, but not the key inside XINFO STREAM).
-- ARG.mayBegin is '1' when the reader may begin a generation; ARG.position the position it has read up
-- to; ARG.generation the generation it knows ('' if none).
-- Returns {generation or false, the stream's last id, its max deleted id}; an id is '0-0' only when the
-- stream does not exist.
--
-- A stream that is gone while its generation stays (evicted, deleted by hand) lost events that this
-- reader had read: that is a loss of data like any other, so a reader that may begin generations begins
-- a new one.
local gen = redis.call('GET', KEY.feedGeneration)
local exists = redis.call('EXISTS', KEY.feedStream) == 1
if ARG.mayBegin == '1' then
  if not gen then
    gen = generation()
  elseif not exists and ARG.position ~= '0-0' and gen == ARG.generation then
    redis.call('SET', KEY.feedGeneration, redisNowUs())
    gen = redis.call('GET', KEY.feedGeneration)
  end
end
if not exists then return {gen or false, '0-0', '0-0'} end
local info = redis.call('XINFO', 'STREAM', KEY.feedStream)
local last, deleted
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
  if info[i] == 'max-deleted-entry-id' then deleted = info[i + 1] end
end
return {gen or false, last, deleted}
