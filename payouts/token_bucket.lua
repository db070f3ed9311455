-- Take one submit token from a merchant's bucket (payouts/pacing.py), refilled at a steady rate.
-- KEYS[1] = {pay:<merchant>}:bucket   hash {tokens, at}
-- ARGV[1] = rate (tokens per second, > 0)
-- ARGV[2] = burst (the bucket's size)
-- ARGV[3] = now (unix seconds, fractional: the caller's clock, so tests can inject it)
-- Returns "0" when a token was taken, else the seconds until one will be there (a decimal string).
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then  -- a clock that steps back adds nothing
  tokens = math.min(burst, tokens + (now - at) * rate)
  at = now
end
local ttl = math.ceil(burst / rate) + 60
if tokens >= 1 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'at', tostring(at))
  redis.call('EXPIRE', KEYS[1], ttl)
  return "0"
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('EXPIRE', KEYS[1], ttl)
return tostring((1 - tokens) / rate)
