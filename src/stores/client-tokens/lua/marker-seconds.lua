-- markerSeconds(marker): the verifier package's markerSeconds (feed/markers.ts), the second of an epoch written in s, ms or µs.
local function markerSeconds(marker)
  if marker < 1e11 then return marker end
  if marker < 1e14 then return math.floor(marker / 1e3) end
  return math.floor(marker / 1e6)
end
