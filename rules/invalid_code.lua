-- Count an invalid code (forged, mangled, of no batch) against one source (an address or a device) and
-- block the source once it passes its limit. Both keys are the source's ({src:<kind>:<id>}): one slot.
--
-- KEYS[1] = {src:<kind>:<id>}:bad       counter of invalid codes in the current window
-- KEYS[2] = {src:<kind>:<id>}:blocked   present while the source is blocked
--
-- ARGV[1] = limit per window   ARGV[2] = window seconds   ARGV[3] = block seconds
--
-- Returns the seconds the source stays blocked (0: not blocked).

local left = redis.call('TTL', KEYS[2])
if left > 0 then return left end
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2])) end
if n > tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[3]))
  redis.call('DEL', KEYS[1])
  return tonumber(ARGV[3])
end
return 0
