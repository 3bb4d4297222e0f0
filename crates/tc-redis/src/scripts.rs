//! The Lua scripts: each reads and writes one account's keys atomically, so no two processes
//! can both take the last place of a window or both be told to create the same token.
//!
//! Every script first compares the store's epoch with the caller's: a store that lost its data
//! (a restart without persistence, a flush) has no epoch or another one, and the script answers
//! `epoch` without touching anything, so the caller restores what it knows before going on.
//! Times are the callers' wall-clock milliseconds, passed in: the store's own clock is never
//! read, so a test can drive the scripts with any times it likes. A claim's lease ends at a time
//! stored with it (`now + lease` when claimed), never at a key's expiry; key expiries (`PX`,
//! `PEXPIRE`) only collect garbage, each longer than anything its key holds still counts.

use redis::Script;
use std::sync::LazyLock;

/// Answers `{'epoch'}` when the store's epoch is not the caller's (`ARGV[1]`).
const EPOCH_CHECK: &str = "
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'epoch'} end
";

/// The slot's token, or the right to create it. A hold no process can have written is removed
/// as `RESERVE` removes it.
/// KEYS: epoch, hold, token, mint, creations.
/// ARGV: epoch, now, refresh margin, lease, creation limit, creation window, claim id, rate
/// window, the claim's garbage collection (longer than the lease). The claim is a hash of its
/// id and the time its lease ends. After a loss, creations wait one rate window longer than sends: by then every
/// process that is sending has noticed the loss and written back its tokens.
/// Answers `token id sealed created_at expires_at`, `busy recheck_at`, `budget until`,
/// `claimed id` or `hold_removed`.
const TOKEN: &str = "
local now = tonumber(ARGV[2])
local token = redis.call('HMGET', KEYS[3], 'id', 'sealed', 'created_at', 'expires_at')
local alive = token[1] and tonumber(token[4]) > now
local answer = {'token', token[1], token[2], token[3], token[4]}
if alive and tonumber(token[4]) - tonumber(ARGV[3]) > now then return answer end
local busy_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if busy_until == nil or busy_until > now + 2 * tonumber(ARGV[8]) then
  redis.call('DEL', KEYS[2])
  return {'hold_removed'}
end
if busy_until > 0 then busy_until = busy_until + tonumber(ARGV[8]) end
local lease_until = tonumber(redis.call('HGET', KEYS[4], 'until') or '0')
if lease_until > now then busy_until = math.max(busy_until, lease_until) end
if busy_until > now then
  if alive then return answer end
  return {'busy', string.format('%d', busy_until)}
end
local window = tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - window)
if redis.call('ZCARD', KEYS[5]) >= tonumber(ARGV[5]) then
  if alive then return answer end
  local oldest = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  return {'budget', string.format('%d', tonumber(oldest[2]) + window)}
end
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[7])
redis.call('PEXPIRE', KEYS[5], window * 2)
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[4], 'id', ARGV[7], 'until', string.format('%d', now + tonumber(ARGV[4])))
redis.call('PEXPIRE', KEYS[4], ARGV[9])
return {'claimed', ARGV[7]}
";

/// A created token becomes the slot's, unless a newer one is there; the claim is released.
/// KEYS: epoch, token, mint. ARGV: epoch, id, sealed, created_at, expires_at, the token's
/// garbage collection (longer than its life: its expiry is `expires_at`, checked by `TOKEN`).
const PUBLISH: &str = "
if redis.call('HGET', KEYS[3], 'id') == ARGV[2] then redis.call('DEL', KEYS[3]) end
local current = redis.call('HGET', KEYS[2], 'created_at')
if current and tonumber(current) >= tonumber(ARGV[4]) then return {'kept'} end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'id', ARGV[2], 'sealed', ARGV[3], 'created_at', ARGV[4], 'expires_at', ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return {'ok'}
";

/// A failed creation's claim is released, and refunded if nothing reached the API.
/// KEYS: epoch, mint, creations. ARGV: epoch, id, refund (`1` or `0`).
const RELEASE: &str = "
if redis.call('HGET', KEYS[2], 'id') == ARGV[2] then redis.call('DEL', KEYS[2]) end
if ARGV[3] == '1' then redis.call('ZREM', KEYS[3], ARGV[2]) end
return {'ok'}
";

/// A token refused with 401 is dropped, if it is still the slot's.
/// KEYS: epoch, token. ARGV: epoch, id.
const RETIRE: &str = "
if redis.call('HGET', KEYS[2], 'id') == ARGV[2] then redis.call('DEL', KEYS[2]) end
return {'ok'}
";

/// A place in the token's window, or the window's places when it is full. A hold no process
/// of tcbatch can have written (not a time, or more than two windows ahead: a real one is one
/// window ahead of the first process to notice a loss, give or take the processes' clocks) is
/// removed, and the caller told, rather than holding every process back forever.
/// KEYS: epoch, hold, window. ARGV: epoch, now, limit, window, place id.
/// Answers `granted`, `held until`, `full` and the places' times, oldest first, or
/// `hold_removed`.
const RESERVE: &str = "
local now = tonumber(ARGV[2])
local window = tonumber(ARGV[4])
local hold = tonumber(redis.call('GET', KEYS[2]) or '0')
if hold == nil or hold > now + 2 * window then
  redis.call('DEL', KEYS[2])
  return {'hold_removed'}
end
if hold > now then return {'held', string.format('%d', hold)} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
if redis.call('ZCARD', KEYS[3]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[3], ARGV[2], ARGV[5])
  redis.call('PEXPIRE', KEYS[3], window * 2)
  return {'granted'}
end
local places = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
local answer = {'full'}
for i = 2, #places, 2 do answer[#answer + 1] = places[i] end
return answer
";

/// A place moves to when its request ended, never earlier; the window's key is kept two
/// windows more (garbage collection: every expiry of it is set to two windows, so this only
/// lengthens it, as the former check of its time to live did).
/// KEYS: epoch, window. ARGV: epoch, place id, at, window.
const FINISH: &str = "
redis.call('ZADD', KEYS[2], 'XX', 'GT', ARGV[3], ARGV[2])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]) * 2)
return {'ok'}
";

/// After the store lost its data: hold every process back until `ARGV[1]`, so nothing the API
/// still counts is forgotten. Only the first process to notice sets it: the loss deleted any
/// earlier hold, and the others' later notice must not stretch it.
/// KEYS: hold. ARGV: until, time to live.
const HOLD: &str = "
redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
return {'ok'}
";

fn checked(body: &str) -> Script {
    Script::new(&format!("{EPOCH_CHECK}{body}"))
}

pub(crate) static TOKEN_SCRIPT: LazyLock<Script> = LazyLock::new(|| checked(TOKEN));
pub(crate) static PUBLISH_SCRIPT: LazyLock<Script> = LazyLock::new(|| checked(PUBLISH));
pub(crate) static RELEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| checked(RELEASE));
pub(crate) static RETIRE_SCRIPT: LazyLock<Script> = LazyLock::new(|| checked(RETIRE));
pub(crate) static RESERVE_SCRIPT: LazyLock<Script> = LazyLock::new(|| checked(RESERVE));
pub(crate) static FINISH_SCRIPT: LazyLock<Script> = LazyLock::new(|| checked(FINISH));
pub(crate) static HOLD_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(HOLD));
