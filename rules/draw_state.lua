-- Read-only: what one campaign's draw did with one code, for a rescan from another phone that may not
-- draw itself. Every key is the campaign's ({c:<id>}): one Cluster slot.
--
-- KEYS[1] = {c:<id>}:award:<code>          the code's award, when it won
-- KEYS[2] = {c:<id>}:drawn:<batch>:<role>  bitmap: the code at <serial> has drawn
--
-- ARGV[1] = serial
--
-- Returns {state}: "won" (an award is held for the code), "drawn" (it drew and did not win), or
-- "open" (it has not drawn in this campaign).

if redis.call('EXISTS', KEYS[1]) == 1 then return {'won'} end
if redis.call('GETBIT', KEYS[2], tonumber(ARGV[1])) == 1 then return {'drawn'} end
return {'open'}
