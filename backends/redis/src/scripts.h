// Internal to credstore::redis: the Lua scripts behind Create, CompareAndSwap and Erase.
//
// Each script touches exactly one key, KEYS[1], the record's hash:
//   v    the value (absent: no record — never written, or erased)
//   ver  the current version as a decimal string; kept by Erase (the tombstone), so versions keep
//        growing across erase-and-recreate
//   exp  expiry in milliseconds of the caller's clock; absent: never expires
//   w    the id of the last write, so a write whose reply was lost can be recognised on re-read
// Visibility is decided by the caller's `now` (ARGV[1]) against `exp`, never by Redis's clock.
// A new version is max(ver + 1, TIME in microseconds): the server clock only guarantees that a
// key recreated after Redis collected it (native TTL) starts above every version it had.
// Numbers stay below 2^53, so Lua's doubles hold them exactly; '%.0f' prints them in full.
#ifndef CREDSTORE_BACKENDS_REDIS_SRC_SCRIPTS_H_
#define CREDSTORE_BACKENDS_REDIS_SRC_SCRIPTS_H_

#include <string_view>

namespace credstore::redis_internal {

// ARGV: now, value, expires_at ('' = never), native TTL in ms ('' = none), write id.
// Returns {'ok', version} or {'conflict'}.
inline constexpr std::string_view kCreateScript = R"lua(
local now = tonumber(ARGV[1])
local record = redis.call('HMGET', KEYS[1], 'v', 'ver', 'exp')
if record[1] and (not record[3] or tonumber(record[3]) > now) then
  return {'conflict'}
end
local clock = redis.call('TIME')
local version = string.format('%.0f', math.max((tonumber(record[2]) or 0) + 1,
                                               tonumber(clock[1]) * 1000000 + tonumber(clock[2])))
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'ver', version, 'w', ARGV[5])
if ARGV[3] == '' then
  redis.call('HDEL', KEYS[1], 'exp')
else
  redis.call('HSET', KEYS[1], 'exp', ARGV[3])
end
if ARGV[4] == '' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return {'ok', version}
)lua";

// ARGV: now, expected version, value, expires_at ('' = never), native TTL in ms ('' = none),
// write id. Returns {'ok', version}, {'conflict'} or {'missing'}.
inline constexpr std::string_view kCompareAndSwapScript = R"lua(
local now = tonumber(ARGV[1])
local record = redis.call('HMGET', KEYS[1], 'v', 'ver', 'exp')
if not record[1] or (record[3] and tonumber(record[3]) <= now) then
  return {'missing'}
end
if record[2] ~= ARGV[2] then
  return {'conflict'}
end
local clock = redis.call('TIME')
local version = string.format('%.0f', math.max((tonumber(record[2]) or 0) + 1,
                                               tonumber(clock[1]) * 1000000 + tonumber(clock[2])))
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'ver', version, 'w', ARGV[6])
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[1], 'exp')
else
  redis.call('HSET', KEYS[1], 'exp', ARGV[4])
end
if ARGV[5] == '' then
  redis.call('PERSIST', KEYS[1])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
return {'ok', version}
)lua";

// ARGV: now, expected version, tombstone TTL in ms, write id. Leaves a tombstone holding only the
// version and the write id. Returns {'ok'}, {'conflict'} or {'missing'}.
inline constexpr std::string_view kEraseScript = R"lua(
local now = tonumber(ARGV[1])
local record = redis.call('HMGET', KEYS[1], 'v', 'ver', 'exp')
if not record[1] or (record[3] and tonumber(record[3]) <= now) then
  return {'missing'}
end
if record[2] ~= ARGV[2] then
  return {'conflict'}
end
redis.call('HDEL', KEYS[1], 'v', 'exp')
redis.call('HSET', KEYS[1], 'w', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {'ok'}
)lua";

}  // namespace credstore::redis_internal

#endif  // CREDSTORE_BACKENDS_REDIS_SRC_SCRIPTS_H_
