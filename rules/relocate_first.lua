-- Correct the place of a code's first scan once the phone that made it gave its location (the H5 page's
-- held draw, docs/scan-path.md): the scan recorded the IP's city, the draw located the phone. Only that
-- first scan's own record is changed: same time, same device tag. One key, the batch's slot.
--
-- KEYS[1] = {b:<id>}:first:<role>:<bucket>   hash: field <serial % bucket> → "<unix s>,<adcode>,<device tag>"
--
-- ARGV[1] = field   ARGV[2] = the first scan's unix time   ARGV[3] = its device tag   ARGV[4] = the adcode now
--
-- Returns 1 when the record was corrected, 0 when it is not that scan's (or gone).

local first = redis.call('HGET', KEYS[1], ARGV[1])
if not first then return 0 end
local ts, _, tag = string.match(first, '^(%d+),(%d*),?(%w*)$')
if ts ~= ARGV[2] or tag ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ',' .. ARGV[4] .. ',' .. ARGV[3])
return 1
