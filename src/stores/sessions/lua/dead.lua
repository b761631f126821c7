-- dead(state, now): a pending rotation, p:<id>:<pending until>, whose bound has passed. Its request has
-- confirmed it or given up by then, so it counts as absent.
local function dead(state, now)
  if string.sub(state, 1, 2) ~= 'p:' then return false end
  local pendingUntil = tonumber(string.match(state, '^p:%d+:(%d+)$'))
  return pendingUntil ~= nil and pendingUntil <= now
end
