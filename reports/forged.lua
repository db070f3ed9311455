-- Count one invalid code in its minute under the batch it claims (read from the code, not authenticated).
-- One key per minute ({forged:<minute>}: one slot per minute, so the counts spread over a Cluster).
--
-- KEYS[1] = {forged:<minute>}:n   hash: claimed batch id → invalid codes ("-": no batch readable,
--                                 "+": any batch once the hash holds its most fields)
--
-- ARGV[1] = field (claimed batch id or "-")   ARGV[2] = most fields per minute   ARGV[3] = TTL seconds
--
-- Returns the field's new count.

local field = ARGV[1]
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[2]) and redis.call('HEXISTS', KEYS[1], field) == 0 then
  field = '+'  -- random batch ids must not grow the hash without bound
end
local n = redis.call('HINCRBY', KEYS[1], field, 1)
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3])) end
return n
