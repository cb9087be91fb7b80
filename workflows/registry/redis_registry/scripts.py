"""The Redis registry's Lua scripts: every operation that reads and then writes.

Redis runs a script to completion before any other command, so these are
atomic and serialised with each other across all clients and processes.
They only move strings around (contents are encoded in Python: no cjson, so
no float rounding or `[]` -> `{}` surprises). Key names are computed from the
prefix P (`ARGV[1]`), so this needs a single Redis (or a primary), not Redis
Cluster; KEYS are unused.
"""

REGISTER = """
local p, id = ARGV[1], ARGV[2]
local tk = p .. 'trip:' .. id
if redis.call('EXISTS', tk) == 1 then return 0 end
redis.call('HSET', tk, unpack(ARGV, 6))
redis.call('SET', p .. 'thread:' .. ARGV[3], id)
redis.call('ZADD', p .. 'trips', ARGV[5], id)
redis.call('ZADD', p .. 'starter:' .. ARGV[4], ARGV[5], id)
return 1
"""

# ARGV: p, id, thread_key?, new thread_key, starter?, new starter, created?, new created, f, v...
UPDATE = """
local p, id = ARGV[1], ARGV[2]
local tk = p .. 'trip:' .. id
if redis.call('EXISTS', tk) == 0 then return 0 end
local old = redis.call('HMGET', tk, 'thread_key', 'starter', 'created_at')
if ARGV[3] == '1' then
  if old[1] and old[1] ~= ARGV[4] then
    local mk = p .. 'thread:' .. old[1]
    if redis.call('GET', mk) == id then redis.call('DEL', mk) end
  end
  redis.call('SET', p .. 'thread:' .. ARGV[4], id)
end
local starter = old[2] or ''
if ARGV[5] == '1' then
  if ARGV[6] ~= starter then redis.call('ZREM', p .. 'starter:' .. starter, id) end
  starter = ARGV[6]
end
local created = old[3] or '0'
if ARGV[7] == '1' then created = ARGV[8] end
if ARGV[5] == '1' or ARGV[7] == '1' then
  redis.call('ZADD', p .. 'trips', created, id)
  redis.call('ZADD', p .. 'starter:' .. starter, created, id)
end
redis.call('HSET', tk, unpack(ARGV, 9))
return 1
"""

LIST = """
local p = ARGV[1]
local index = p .. 'trips'
if ARGV[2] == '1' then index = p .. 'starter:' .. ARGV[3] end
local ids = redis.call('ZREVRANGE', index, 0, -1)
local out = {}
for i, id in ipairs(ids) do out[i] = redis.call('HGETALL', p .. 'trip:' .. id) end
return out
"""

FORGET = """
local p, id = ARGV[1], ARGV[2]
local tk = p .. 'trip:' .. id
local old = redis.call('HMGET', tk, 'thread_key', 'starter')
if old[1] then
  local mk = p .. 'thread:' .. old[1]
  if redis.call('GET', mk) == id then redis.call('DEL', mk) end
end
if old[2] then redis.call('ZREM', p .. 'starter:' .. old[2], id) end
redis.call('ZREM', p .. 'trips', id)
redis.call('SREM', p .. 'waiting', id)
redis.call('DEL', tk, p .. 'waiter:' .. id, p .. 'seen:' .. id, p .. 'pending:' .. id,
           p .. 'claims:' .. id, p .. 'controls:' .. id, p .. 'edited:' .. id,
           p .. 'corrections:' .. id, p .. 'withdrawn:' .. id, p .. 'feedback:' .. id)
local posts, postkeys = p .. 'posts', p .. 'postkeys'
redis.call('HDEL', posts, id)
redis.call('ZREM', postkeys, id)
for i = 3, #ARGV, 2 do
  local low, high = '[' .. ARGV[i], '(' .. ARGV[i + 1]
  local keys = redis.call('ZRANGEBYLEX', postkeys, low, high)
  for j = 1, #keys, 500 do
    redis.call('HDEL', posts, unpack(keys, j, math.min(j + 499, #keys)))
  end
  redis.call('ZREMRANGEBYLEX', postkeys, low, high)
end
return 1
"""

# ARGV: p, id, key, reply JSON, '1' for a control -> {accepted 0/1, waiter or ''}
# (a deleted key stays in seen: its tombstone keeps a re-delivery out)
DELIVER = """
local p, id = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. 'trip:' .. id) == 0 then return {0, ''} end
local waiter = redis.call('GET', p .. 'waiter:' .. id) or ''
if redis.call('SADD', p .. 'seen:' .. id, ARGV[3]) == 0 then return {0, waiter} end
redis.call('RPUSH', p .. 'pending:' .. id, ARGV[4])
if ARGV[5] == '1' then redis.call('SADD', p .. 'controls:' .. id, ARGV[3]) end
return {1, waiter}
"""

# ARGV: p, id, key, edit time, revision JSON, correction key, correction JSON,
# JSON prefix of the key -> {outcome, waiter or ''}
REVISE = """
local p, id, key = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', p .. 'trip:' .. id) == 0 then return {'ignored', ''} end
local waiter = redis.call('GET', p .. 'waiter:' .. id) or ''
if redis.call('HEXISTS', p .. 'withdrawn:' .. id, key) == 1 then return {'withdrawn', waiter} end
if redis.call('SISMEMBER', p .. 'seen:' .. id, key) == 0
   or redis.call('SISMEMBER', p .. 'controls:' .. id, key) == 1 then
  return {'ignored', waiter}
end
local ek = p .. 'edited:' .. id
local last = redis.call('HGET', ek, key)
if last and tonumber(last) >= tonumber(ARGV[4]) then return {'stale', waiter} end
local pk, prefix = p .. 'pending:' .. id, ARGV[8]
local items = redis.call('LRANGE', pk, 0, -1)
for i, item in ipairs(items) do
  if string.sub(item, 1, #prefix) == prefix then
    redis.call('LSET', pk, i - 1, ARGV[5])
    redis.call('HSET', ek, key, ARGV[4])
    return {'revised', waiter}
  end
end
if redis.call('SADD', p .. 'seen:' .. id, ARGV[6]) == 0 then return {'stale', waiter} end
redis.call('HSET', ek, key, ARGV[4])
local ck = p .. 'corrections:' .. id
local earlier = redis.call('HGET', ck, key)
redis.call('HSET', ck, key, ARGV[7])
if earlier then
  for i, item in ipairs(items) do
    if item == earlier then
      redis.call('LSET', pk, i - 1, ARGV[7])
      return {'corrected', waiter}
    end
  end
end
redis.call('RPUSH', pk, ARGV[7])
return {'corrected', waiter}
"""

# ARGV: p, id, key, JSON prefix of the key -> {outcome, waiter or ''}
WITHDRAW = """
local p, id, key = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', p .. 'trip:' .. id) == 0 then return {'ignored', ''} end
local waiter = redis.call('GET', p .. 'waiter:' .. id) or ''
local wk = p .. 'withdrawn:' .. id
local done = redis.call('HGET', wk, key)
if done then return {done, waiter} end
if redis.call('SISMEMBER', p .. 'controls:' .. id, key) == 1 then return {'ignored', waiter} end
local outcome = 'withdrawn'
if redis.call('SADD', p .. 'seen:' .. id, key) == 0 then
  local pk, prefix = p .. 'pending:' .. id, ARGV[4]
  local unread = false
  for _, item in ipairs(redis.call('LRANGE', pk, 0, -1)) do
    if string.sub(item, 1, #prefix) == prefix then
      redis.call('LREM', pk, 1, item)
      unread = true
      break
    end
  end
  if not unread then
    outcome = 'read'
    local correction = redis.call('HGET', p .. 'corrections:' .. id, key)
    if correction then redis.call('LREM', pk, 1, correction) end
  end
end
redis.call('HSET', wk, key, outcome)
return {outcome, waiter}
"""

# -> -1 unknown trip, else 1 when unclaimed replies exist, 0 otherwise
PUBLISH = """
local p, id = ARGV[1], ARGV[2]
if redis.call('EXISTS', p .. 'trip:' .. id) == 0 then return -1 end
redis.call('SET', p .. 'waiter:' .. id, ARGV[3])
redis.call('SADD', p .. 'waiting', id)
if redis.call('LLEN', p .. 'pending:' .. id) > 0 then return 1 end
return 0
"""

# -> JSON array of the replies this claim holds
CLAIM = """
local p, id, claim = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', p .. 'trip:' .. id) == 0 then return '[]' end
local ck = p .. 'claims:' .. id
local done = redis.call('HGET', ck, claim)
if done then return done end
local pk = p .. 'pending:' .. id
local items = redis.call('LRANGE', pk, 0, -1)
local taken = '[' .. table.concat(items, ',') .. ']'
redis.call('HSET', ck, claim, taken)
redis.call('DEL', pk)
return taken
"""

STRANDED = """
local p = ARGV[1]
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', p .. 'waiting')) do
  local waiter = redis.call('GET', p .. 'waiter:' .. id)
  if waiter and redis.call('LLEN', p .. 'pending:' .. id) > 0 then
    out[#out + 1] = id
    out[#out + 1] = waiter
  end
end
return out
"""


# KEYS: the trip's feedback hash; ARGV: field "{version}:{user}", label -> 1 if changed, 0 if the same vote
FEEDBACK = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""
