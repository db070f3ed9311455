-- Raise a campaign's Redis counters to the SQL ledger's figures where Redis holds less: Redis lost
-- writes it had acknowledged (an older AOF, a failover, deleted keys). Never lowers a counter: Redis may
-- hold awards not yet drained into SQL, and lowering would let the draw overspend. Every key is the
-- campaign's ({c:<id>}): one Cluster slot.
--
-- KEYS[1] = {c:<id>}:spent          KEYS[2] = {c:<id>}:spent:<day>
-- KEYS[3] = {c:<id>}:qty            KEYS[4] = {c:<id>}:qty:<day>
--
-- ARGV[1] = valid cash in SQL (fen)   ARGV[2] = valid cash today in SQL
-- ARGV[3] = JSON {prize index: valid awards}   ARGV[4] = the same, today
-- ARGV[5] = TTL of the day keys (s)
--
-- Returns the number of counters raised (a missing key counts as 0, so a wiped campaign is raised).

local raised = 0
local function raise(key, value)
  if tonumber(redis.call('GET', key) or '-1') < value then
    redis.call('SET', key, value)
    raised = raised + 1
  end
end
local function raise_field(key, field, value)
  if tonumber(redis.call('HGET', key, field) or '0') < value then
    redis.call('HSET', key, field, value)
    raised = raised + 1
  end
end

raise(KEYS[1], tonumber(ARGV[1]))
if tonumber(ARGV[2]) > 0 then raise(KEYS[2], tonumber(ARGV[2])) end
for field, n in pairs(cjson.decode(ARGV[3])) do raise_field(KEYS[3], field, n) end
for field, n in pairs(cjson.decode(ARGV[4])) do raise_field(KEYS[4], field, n) end
for _, key in ipairs({KEYS[2], KEYS[4]}) do
  if redis.call('EXISTS', key) == 1 then redis.call('EXPIRE', key, tonumber(ARGV[5])) end
end
return raised
