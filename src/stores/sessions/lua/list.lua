-- One page of the user's live sessions: up to limit + 1 after the cursor in (created_at, sid) order,
-- the order in which Redis keeps members of equal score (bytewise); collects the ended sessions it meets.
-- The cursor is afterCreatedAt ('' for the first page) and afterSid.
local now = tonumber(ARG.now)
local want = tonumber(ARG.limit) + 1
local rows, gone = {}, {}
local function consider(sid)
  if #rows >= want then return end
  local key = ARG.sessionPrefix .. sid
  if live(key, now) then
    local f = redis.call('HMGET', key, 'created_at', 'last_refreshed_at', 'auth_time', 'expires_at', 'user_agent', 'ip')
    table.insert(rows, {sid, f[1], f[2], f[3] or '0', f[4] or '0', f[5], f[6]})
  else
    table.insert(gone, sid)
  end
end
-- a > b as Redis orders members (bytewise): Lua's own comparison follows the server's locale.
local function after(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local from = '-inf'
if ARG.afterCreatedAt ~= '' then
  for _, sid in ipairs(redis.call('ZRANGE', KEY.byCreation, ARG.afterCreatedAt, ARG.afterCreatedAt, 'BYSCORE')) do
    if after(sid, ARG.afterSid) then consider(sid) end
  end
  from = '(' .. ARG.afterCreatedAt
end
local offset = 0
while #rows < want do
  local batch = redis.call('ZRANGE', KEY.byCreation, from, '+inf', 'BYSCORE', 'LIMIT', offset, want)
  for _, sid in ipairs(batch) do consider(sid) end
  if #batch < want then break end
  offset = offset + #batch
end
for _, sid in ipairs(gone) do drop(KEY.byRefresh, KEY.byCreation, ARG.sessionPrefix, sid) end
return rows
