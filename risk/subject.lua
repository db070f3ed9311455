-- One scan counted against one risk subject (a device, a member, a network, a GPS point), and what the
-- subject's record says, atomically. Every key carries the subject's hash tag {r:<kind>:<id>}: one slot.
--
-- KEYS[1] = <tag>:s              hash: first (unix s), list:<brand> / list:* ("block"|"allow"),
--                                rev:<brand> ("flagged"|"blocked"|"cleared"), presale (count), last
--                                ("<unix s>,<adcode>"), gps / gpsn (last exact fix, its repeats),
--                                iplist:<brand|*>:<ip> (network subjects), keep (set: never expire)
-- KEYS[2] = <tag>:m:<minute>     counter        KEYS[3] = <tag>:h:<hour> counter
-- KEYS[4] = <tag>:d:<day>        counter        KEYS[5] = <tag>:o:<day>  HyperLogLog of the other identities
-- KEYS[6] = <tag>:r              list "ts:batch:case:serial", newest first, at most 16
-- KEYS[7] = <tag>:ip:<ip>:m:<minute> the single address's counter (network subjects), else <tag>:ip:none
-- KEYS[8] = <tag>:cap:<batch>:<serial> set when a member on this device hit a cap on this code (device
--           subjects), else <tag>:cap:none
-- KEYS[9] = <tag>:o30            HyperLogLog of the other identities over the last 30 days (device and
--           member subjects: accounts on a phone, phones of an account), kept 30 days after its last change
-- KEYS[10] = <tag>:nh:<hour>     HyperLogLog of the networks (/24, /64) this subject scanned from this hour
--           (device and member subjects: an address pool rotated under one phone or account)
--
-- ARGV[1] = now (unix s)   ARGV[2] = brand id   ARGV[3] = batch id   ARGV[4] = case (-1: none)
-- ARGV[5] = serial         ARGV[6] = other identity ("" none)        ARGV[7] = adcode ("" unknown)
-- ARGV[8] = exact GPS fix ("" none)   ARGV[9] = sweep window s   ARGV[10] = near distance (serials)
-- ARGV[11] = the address ("" none; network subjects)   ARGV[12] = state TTL s (unless "keep" is set)
-- ARGV[13] = the scan's network ("" none; counted by device and member subjects)
--
-- Returns {per_minute, per_hour, per_day, others_today, age_s, listed, review, same_case, near, presale,
--          ip_per_minute, last_adcode, last_ts, gps_repeats, capped_here, others_month, networks_hour}.

local now = tonumber(ARGV[1])
local brand = ARGV[2]

local function bump(key, ttl)
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, ttl) end
  return n
end

local per_minute = bump(KEYS[2], 120)
local per_hour = bump(KEYS[3], 7200)
local per_day = bump(KEYS[4], 172800)
-- A scan with no other identity (no member on a device) still reads today's count: a farm stays a farm.
if ARGV[6] ~= '' and redis.call('PFADD', KEYS[5], ARGV[6]) == 1 then redis.call('EXPIRE', KEYS[5], 172800) end
local others = redis.call('PFCOUNT', KEYS[5])
local others_month = 0
if KEYS[9] ~= KEYS[1] then
  if ARGV[6] ~= '' and redis.call('PFADD', KEYS[9], ARGV[6]) == 1 then redis.call('EXPIRE', KEYS[9], 2592000) end
  others_month = redis.call('PFCOUNT', KEYS[9])
end
local networks_hour = 0
if ARGV[13] ~= '' then
  if redis.call('PFADD', KEYS[10], ARGV[13]) == 1 then redis.call('EXPIRE', KEYS[10], 7200) end
  networks_hour = redis.call('PFCOUNT', KEYS[10])
end
local ip_per_minute = 0
if ARGV[11] ~= '' then ip_per_minute = bump(KEYS[7], 120) end

local ip = ARGV[11]
local s = redis.call('HMGET', KEYS[1], 'first', 'list:' .. brand, 'list:*', 'rev:' .. brand, 'presale', 'last',
  'gps', 'gpsn', 'iplist:' .. brand .. ':' .. ip, 'iplist:*:' .. ip, 'keep')

local age = 0
if s[1] then age = now - tonumber(s[1]) else redis.call('HSET', KEYS[1], 'first', now) end
local listed = s[2] or s[9] or s[3] or s[10] or ''
if ip == '' then listed = s[2] or s[3] or '' end

local last_ts, last_adcode = 0, ''
if s[6] then
  local ts, ad = string.match(s[6], '^(%d+),(%d*)$')
  last_ts, last_adcode = tonumber(ts) or 0, ad or ''
end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'last', now .. ',' .. ARGV[7]) end

local gps_repeats = 0
if ARGV[8] ~= '' then
  if s[7] == ARGV[8] then
    gps_repeats = tonumber(s[8] or '0') + 1
    redis.call('HSET', KEYS[1], 'gpsn', gps_repeats)
  else
    redis.call('HSET', KEYS[1], 'gps', ARGV[8], 'gpsn', 0)
  end
end

-- Earlier scans of this subject within the sweep window: the same case, or serials close to this one. Each
-- code counts once: a rescan (a consumer reloading the page) is neither counted nor listed again, so a
-- bottle scanned five times and its neighbour are two codes, not six.
local batch, case, serial = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local since, near_distance = now - tonumber(ARGV[9]), tonumber(ARGV[10])
local same_case, near, rescan, seen = 0, 0, false, {}
for _, entry in ipairs(redis.call('LRANGE', KEYS[6], 0, 15)) do
  local ts, b, c, sr = string.match(entry, '^(%d+):(%d+):(%-?%d+):(%d+)$')
  if ts and tonumber(ts) >= since and b == batch then
    sr = tonumber(sr)
    if sr == serial then
      rescan = true
    elseif not seen[sr] then
      seen[sr] = true
      if case >= 0 and tonumber(c) == case then same_case = same_case + 1 end
      if math.abs(sr - serial) <= near_distance then near = near + 1 end
    end
  end
end
if not rescan then
  redis.call('LPUSH', KEYS[6], now .. ':' .. batch .. ':' .. ARGV[4] .. ':' .. ARGV[5])
  redis.call('LTRIM', KEYS[6], 0, 15)
end
redis.call('EXPIRE', KEYS[6], 86400)
if not s[11] then redis.call('EXPIRE', KEYS[1], tonumber(ARGV[12])) end

return {per_minute, per_hour, per_day, others, age, listed, s[4] or '', same_case, near, tonumber(s[5] or '0'),
        ip_per_minute, last_adcode, last_ts, gps_repeats,
        redis.call('EXISTS', KEYS[8]), others_month, networks_hour}
