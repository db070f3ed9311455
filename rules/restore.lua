-- Restore an award from its signed receipt when Redis lost it (a one-draw-per-code campaign): the code
-- is marked drawn, its memo set, the counters counted and the award appended to the stream again under
-- its original id, so SQL stores it once (or refuses it, with the reason, under the ledger's guards).
-- Idempotent: a code whose memo exists answers that memo and changes nothing. Every key is the
-- campaign's ({c:<id>}): one Cluster slot.
--
-- KEYS[1] = {c:<id>}:drawn:<batch>:<role>   KEYS[2] = {c:<id>}:award:<code>
-- KEYS[3] = {c:<id>}:spent                  KEYS[4] = {c:<id>}:spent:<day of the award>
-- KEYS[5] = {c:<id>}:qty                    KEYS[6] = {c:<id>}:qty:<day of the award>
-- KEYS[7] = {c:<id>}:mem:<member>           KEYS[8] = {c:<id>}:mem:<member>:<day of the award>
-- KEYS[9] = {c:<id>}:awards
--
-- ARGV[1] = code  ARGV[2] = serial  ARGV[3] = award entry id  ARGV[4] = prize index  ARGV[5] = kind
-- ARGV[6] = amount fen  ARGV[7] = points  ARGV[8] = coupon  ARGV[9] = rules version  ARGV[10] = award ts
-- ARGV[11] = member ("" if none)  ARGV[12] = batch id  ARGV[13] = role  ARGV[14] = campaign id
--
-- Returns {outcome, prize index, kind, amount fen, points, coupon, award entry id} like draw.lua:
-- "already_won" (restored now, or Redis still had it), or "unavailable" (the campaign's counters are
-- gone: wait for the worker to restore them from SQL, then present the receipt again).

if redis.call('EXISTS', KEYS[3]) == 0 then
  return {'unavailable', -1, '', 0, 0, '', ''}
end
local kept = redis.call('GET', KEYS[2])
if kept then
  local w = cjson.decode(kept)
  return {'already_won', w[1], w[2], w[3], w[4], w[5] or '', w[6] or ''}
end

local index, amount, points = tonumber(ARGV[4]), tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('SETBIT', KEYS[1], tonumber(ARGV[2]), 1)
redis.call('SET', KEYS[2], cjson.encode({index, ARGV[5], amount, points, ARGV[8], ARGV[3]}))
redis.call('HINCRBY', KEYS[5], index, 1)
redis.call('HINCRBY', KEYS[6], index, 1)
redis.call('EXPIRE', KEYS[6], 172800)
if amount > 0 then
  redis.call('INCRBY', KEYS[3], amount)
  redis.call('INCRBY', KEYS[4], amount)
  redis.call('EXPIRE', KEYS[4], 172800)
end
if ARGV[11] ~= '' then
  redis.call('INCR', KEYS[7])
  redis.call('INCR', KEYS[8])
  redis.call('EXPIRE', KEYS[8], 172800)
end
redis.call('XADD', KEYS[9], '*', 'code', ARGV[1], 'batch', ARGV[12], 'role', ARGV[13], 'serial', ARGV[2],
  'prize', index, 'kind', ARGV[5], 'amount_fen', amount, 'points', points, 'outcome', 'restored',
  'rules_version', ARGV[9], 'member', ARGV[11], 'ts', ARGV[10], 'scan_event', '', 'coupon', ARGV[8],
  'award_id', ARGV[14] .. '-' .. ARGV[3])
return {'already_won', index, ARGV[5], amount, points, ARGV[8], ARGV[3]}
