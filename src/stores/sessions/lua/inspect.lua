-- What the store holds about a token, for the tests and for operators.
-- Returns {denied until (ms) or -2, 1 when the session is live, not-before (ms) or false, kept until (ms) or -2}.
local notBefore = redis.call('GET', KEY.notBefore)
return {
  redis.call('PEXPIRETIME', KEY.token),
  live(KEY.session, tonumber(ARG.now)) and 1 or 0,
  notBefore,
  notBefore and redis.call('PEXPIRETIME', KEY.notBefore) or -2
}
