-- One consumer scan, atomically: replay guard, rate limits, sale status, first-scan bit, repeat count,
-- first-scan details, event append. Every key belongs to one batch ({b:<id>} hash tag): one Cluster slot.
--
-- KEYS[1] = {b:<id>}:req:<scan_id>        string: this scan's reply, so a retried call replays it
-- KEYS[2] = {b:<id>}:rl:ip:<ip>:<window>  counter: scans from this IP in this window ("" slot unused → "{b:<id>}:rl:none")
-- KEYS[3] = {b:<id>}:rl:dev:<dev>:<window> counter: scans from this device in this window
-- KEYS[4] = {b:<id>}:active               zset "first-last" scored by first: ranges on sale
-- KEYS[5] = {b:<id>}:void                 zset, same shape: voided ranges
-- KEYS[6] = {b:<id>}:seen:<role>          bitmap: bit <serial> set once the code was scanned on sale
-- KEYS[7] = {b:<id>}:first:<role>:<bucket> hash: field <serial % bucket> → "<unix s>,<adcode>,<device tag>"
-- KEYS[8] = {b:<id>}:repeats              hash: field "<role>:<serial>" → scans after the first
-- KEYS[9] = {b:<id>}:events               stream: the outbox drained into SQL
-- KEYS[10] = {b:<id>}:presale:<role>      bitmap: bit <serial> set once the code was scanned not on sale or void
-- KEYS[11] = {b:<id>}:riskblock           zset, same shape as void: ranges a brand's risk list blocks
--
-- ARGV[1] = serial            ARGV[2] = role ("inner" | "outer" | "case" | "pallet")
-- ARGV[3] = now (unix s)      ARGV[4] = adcode ("" if unknown)
-- ARGV[5] = first-hash field  ARGV[6] = IP limit per window (0 = none)
-- ARGV[7] = device limit per window (0 = none)   ARGV[8] = window seconds
-- ARGV[9] = replay TTL seconds
-- ARGV[10] = code  ARGV[11] = batch id  ARGV[12] = ip  ARGV[13] = device id  ARGV[14] = member ("" if none)
-- ARGV[15] = the item serial whose activation puts this code on sale (a case code: its first item)
-- ARGV[16] = a short tag of the device ("" if none), kept with the first scan
-- ARGV[17] = rules version the app matched with   ARGV[18] = matched campaign ids, comma-separated
-- ARGV[19] = where ARGV[4] came from: "gps", "ip" or "none"
-- ARGV[20] = the risk layer's decision for this scan (risk.policy: allow, hold, challenge, no_prize, block)
-- ARGV[21] = its reasons ("sweep:d,farm:d"; "" none)
-- ARGV[22] = the decision for a code scanned before it was on sale (a leaked code), when that is stricter
--            than "allow"; "" to leave the decision alone
-- ARGV[23] = "1": a decision that withholds the draw (challenge, no_prize, block) keeps the code drawable, so
--            a first scan so decided does not count as the code's first (event kind "withheld")
--
-- Returns {status, scan_count, first_ts, first_adcode, event_id, first_device_tag, risk, risk_reasons};
-- status is one of "first", "repeat", "not_on_sale", "void", "rate_limited". The device's limit is checked
-- before the address's, so one heavy phone behind a shared address never spends the others' allowance.

local replay = redis.call('GET', KEYS[1])
if replay then
  return cjson.decode(replay)
end

local function finish(reply)
  redis.call('SET', KEYS[1], cjson.encode(reply), 'EX', tonumber(ARGV[9]))
  return reply
end

local window = tonumber(ARGV[8])
local function over_limit(key, limit)
  if limit <= 0 then return false end
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, window * 2) end
  return n > limit
end
if over_limit(KEYS[3], tonumber(ARGV[7])) or over_limit(KEYS[2], tonumber(ARGV[6])) then
  return finish({'rate_limited', 0, '', '', '', '', ARGV[20], ARGV[21]})
end

local sale_serial = tonumber(ARGV[15])
local function in_ranges(key)
  local hit = redis.call('ZREVRANGEBYSCORE', key, sale_serial, '-inf', 'LIMIT', 0, 1)[1]
  if not hit then return false end
  return sale_serial <= tonumber(string.match(hit, '%-(%d+)$'))
end

local status, count, first_ts, first_adcode, first_tag = nil, 0, ARGV[3], ARGV[4], ARGV[16]
local risk, reasons, kind = ARGV[20], ARGV[21], nil
local function escalate(action, reason)
  risk = action
  reasons = (reasons == '' and reason) or (reason .. ',' .. reasons)
end
local serial = tonumber(ARGV[1])
if in_ranges(KEYS[5]) then
  status = 'void'
  redis.call('SETBIT', KEYS[10], serial, 1)
elseif not in_ranges(KEYS[4]) then
  status = 'not_on_sale'
  redis.call('SETBIT', KEYS[10], serial, 1)
else
  -- On sale. The risk layer's last word first: a range a list blocks, a code scanned before it was on sale.
  if risk ~= 'block' and in_ranges(KEYS[11]) then
    escalate('block', 'range')
  elseif risk == 'allow' and ARGV[22] ~= '' and redis.call('GETBIT', KEYS[10], serial) == 1 then
    escalate(ARGV[22], 'tainted')
  end
  local withheld = ARGV[23] == '1' and (risk == 'challenge' or risk == 'no_prize' or risk == 'block')
  if withheld and redis.call('GETBIT', KEYS[6], serial) == 0 then
    -- A first scan the risk layer keeps from drawing does not spend the code's first scan: its real owner's
    -- scan is still the first. The event says "withheld", not "first".
    status, kind = 'first', 'withheld'
  elseif redis.call('SETBIT', KEYS[6], serial, 1) == 0 then
    status, count = 'first', 1
    redis.call('HSET', KEYS[7], ARGV[5], ARGV[3] .. ',' .. ARGV[4] .. ',' .. ARGV[16])
  else
    status = 'repeat'
    count = redis.call('HINCRBY', KEYS[8], ARGV[2] .. ':' .. ARGV[1], 1) + 1
    local first = redis.call('HGET', KEYS[7], ARGV[5])
    if first then
      first_ts, first_adcode, first_tag = string.match(first, '^(%d+),(%d*),?(%w*)$')
      first_ts, first_adcode, first_tag = first_ts or '', first_adcode or '', first_tag or ''
    else
      first_ts, first_adcode, first_tag = '', '', ''
    end
  end
end

local event_id = redis.call('XADD', KEYS[9], '*',
  'kind', kind or status, 'code', ARGV[10], 'batch', ARGV[11], 'serial', ARGV[1], 'role', ARGV[2],
  'ts', ARGV[3], 'adcode', ARGV[4], 'count', count, 'ip', ARGV[12], 'device', ARGV[13], 'member', ARGV[14],
  'rules_version', ARGV[17], 'campaigns', ARGV[18], 'src', ARGV[19], 'risk', risk, 'risk_why', reasons)
return finish({status, count, first_ts, first_adcode, event_id, first_tag, risk, reasons})
