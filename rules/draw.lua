-- One prize draw for one code in one campaign, atomically. Every key is the campaign's ({c:<id>}):
-- one Cluster slot. Idempotent for the same scan (replay guard) and for the same code (drawn bitmap +
-- the winner's memo), so a retried call never pays twice.
--
-- KEYS[1]  = {c:<id>}:req:<scan id>              this call's reply, replayed on retry (short TTL)
-- KEYS[2]  = {c:<id>}:drawn:<batch>:<role>       bitmap: the code at <serial> has drawn (one draw per code)
-- KEYS[3]  = {c:<id>}:award:<code>               the code's award, kept (awards are bounded by the budget)
-- KEYS[4]  = {c:<id>}:spent                      fen paid out in cash, whole campaign
-- KEYS[5]  = {c:<id>}:spent:<day>                fen paid out today
-- KEYS[6]  = {c:<id>}:qty                        hash: prize index → awarded
-- KEYS[7]  = {c:<id>}:qty:<day>                  hash: prize index → awarded today
-- KEYS[8]  = {c:<id>}:mem:<member>               awards to this member (unused key when no member)
-- KEYS[9]  = {c:<id>}:mem:<member>:<day>         awards to this member today
-- KEYS[10] = {c:<id>}:nth                        scans counted for "every Nth scan"
-- KEYS[11] = {c:<id>}:awards                     stream: every award, drained into SQL
-- KEYS[11 + i] = {c:<id>}:coupons:<index of prize i>   list: uploaded coupon codes of prize i (1-based i)
--
-- ARGV[1] = code            ARGV[2] = serial        ARGV[3] = r  (0 <= r < 1: which prize)
-- ARGV[4] = r2 (amount)     ARGV[5] = budget fen    ARGV[6] = daily budget fen (0: none)
-- ARGV[7] = per-member cap (0: none)   ARGV[8] = per-member daily cap (0: none)
-- ARGV[9] = N of "every Nth scan" (0: not that kind)   ARGV[10] = one draw per code (1/0)
-- ARGV[11] = cash multiplier (member tier)  ARGV[12] = rules version  ARGV[13] = now (unix s)
-- ARGV[14] = member ref ("" if none)  ARGV[15] = batch id  ARGV[16] = role  ARGV[17] = scan event id
-- ARGV[18] = prizes JSON [[index, kind, weight, min_fen, max_fen, points, total, daily], ...] (0: unlimited)
-- ARGV[19] = consolation JSON [index, kind, 0, 0, 0, points, 0, 0] or ""   ARGV[20] = replay TTL s
-- ARGV[21] = "1": the risk layer holds this scan's award (the award entry says held, the ledger never pays
--            it until a reviewer releases it)   ARGV[22] = "1": the risk layer spends this code's draw
--            without a prize (a no-prize decision under a policy that does not keep codes drawable)
-- ARGV[23] = unix time before which a cash award is not paid ("" none: the risk layer's payout delay)
--
-- Returns {outcome, prize index, kind, amount fen, points, coupon, award entry id ("" when no award)[, held]};
-- outcome is one of "won", "consolation", "lost", "already_won", "already_drawn", "capped", or
-- "unavailable": the campaign's counters are gone from Redis (wiped, or never set up by a publish), so
-- nothing is drawn and nothing is marked until the worker restores them from the SQL ledger.

local replay = redis.call('GET', KEYS[1])
if replay then return cjson.decode(replay) end

local function finish(reply)
  redis.call('SET', KEYS[1], cjson.encode(reply), 'EX', tonumber(ARGV[20]))
  return reply
end

local serial = tonumber(ARGV[2])
local one_per_code = ARGV[10] == '1'
if one_per_code then
  local won = redis.call('GET', KEYS[3])
  if won then
    local w = cjson.decode(won)
    return finish({'already_won', w[1], w[2], w[3], w[4], w[5] or '', w[6] or '', w[7] or ''})
  end
  if redis.call('GETBIT', KEYS[2], serial) == 1 then
    return finish({'already_drawn', -1, '', 0, 0, '', ''})
  end
end
if redis.call('EXISTS', KEYS[4]) == 0 then
  return {'unavailable', -1, '', 0, 0, '', ''}
end
if ARGV[22] == '1' then
  if one_per_code then redis.call('SETBIT', KEYS[2], serial, 1) end
  return finish({'lost', -1, '', 0, 0, '', ''})
end

local member = ARGV[14]
local cap, daily_cap = tonumber(ARGV[7]), tonumber(ARGV[8])
if member ~= '' then
  if cap > 0 and tonumber(redis.call('GET', KEYS[8]) or '0') >= cap then
    return finish({'capped', -1, '', 0, 0, '', ''})
  end
  if daily_cap > 0 and tonumber(redis.call('GET', KEYS[9]) or '0') >= daily_cap then
    return finish({'capped', -1, '', 0, 0, '', ''})
  end
end

local function mark_drawn()
  if one_per_code then redis.call('SETBIT', KEYS[2], serial, 1) end
end

local nth = tonumber(ARGV[9])
if nth > 0 and redis.call('INCR', KEYS[10]) % nth ~= 0 then
  mark_drawn()
  return finish({'lost', -1, '', 0, 0, '', ''})
end

local prizes = cjson.decode(ARGV[18])
local budget, daily_budget = tonumber(ARGV[5]), tonumber(ARGV[6])
local spent = tonumber(redis.call('GET', KEYS[4]) or '0')
local spent_today = tonumber(redis.call('GET', KEYS[5]) or '0')
local multiplier = tonumber(ARGV[11])

-- The amount a prize would pay now, or nil when its quantities or the budget cannot cover it.
local function payable(p, position)
  local index, kind, total, daily = p[1], p[2], p[7], p[8]
  if kind == 'coupon' and redis.call('LLEN', KEYS[11 + position]) == 0 then return nil end
  if total > 0 and tonumber(redis.call('HGET', KEYS[6], index) or '0') >= total then return nil end
  if daily > 0 and tonumber(redis.call('HGET', KEYS[7], index) or '0') >= daily then return nil end
  if kind ~= 'cash' then return 0 end
  local amount = p[4] + math.floor(tonumber(ARGV[4]) * (p[5] - p[4] + 1))
  if amount > p[5] then amount = p[5] end
  amount = math.floor(amount * multiplier + 0.5)
  if spent + amount > budget then return nil end
  if daily_budget > 0 and spent_today + amount > daily_budget then return nil end
  return amount
end

-- The drawn prize first; when it is exhausted, the next ones in table order; then the consolation.
local r, edge, pick = tonumber(ARGV[3]), 0, nil
for i, p in ipairs(prizes) do
  edge = edge + p[3]
  if r < edge then pick = i break end
end
local chosen, amount, chosen_at = nil, 0, nil
if pick then
  for k = 0, #prizes - 1 do
    local position = ((pick - 1 + k) % #prizes) + 1
    local p = prizes[position]
    local a = payable(p, position)
    if a then chosen, amount, chosen_at = p, a, position break end
  end
end

mark_drawn()
local outcome = 'won'
if not chosen then
  if ARGV[19] == '' then return finish({'lost', -1, '', 0, 0, '', ''}) end
  chosen, amount, outcome = cjson.decode(ARGV[19]), 0, 'consolation'
  if chosen[2] == 'thanks' then return finish({'consolation', chosen[1], 'thanks', 0, 0, '', ''}) end
end

local index, kind, points = chosen[1], chosen[2], chosen[6]
local coupon = ''
if kind == 'coupon' and chosen_at then coupon = redis.call('LPOP', KEYS[11 + chosen_at]) end
redis.call('HINCRBY', KEYS[6], index, 1)
redis.call('HINCRBY', KEYS[7], index, 1)
redis.call('EXPIRE', KEYS[7], 172800)
if amount > 0 then
  redis.call('INCRBY', KEYS[4], amount)
  redis.call('INCRBY', KEYS[5], amount)
  redis.call('EXPIRE', KEYS[5], 172800)
end
if member ~= '' then
  redis.call('INCR', KEYS[8])
  redis.call('INCR', KEYS[9])
  redis.call('EXPIRE', KEYS[9], 172800)
end
local entry = redis.call('XADD', KEYS[11], '*', 'code', ARGV[1], 'batch', ARGV[15], 'role', ARGV[16],
  'serial', ARGV[2], 'prize', index, 'kind', kind, 'amount_fen', amount, 'points', points, 'outcome', outcome,
  'rules_version', ARGV[12], 'member', member, 'ts', ARGV[13], 'scan_event', ARGV[17], 'coupon', coupon,
  'held', ARGV[21], 'pay_after', ARGV[23])
if one_per_code then redis.call('SET', KEYS[3], cjson.encode({index, kind, amount, points, coupon, entry, ARGV[21]})) end
return finish({outcome, index, kind, amount, points, coupon, entry, ARGV[21]})
