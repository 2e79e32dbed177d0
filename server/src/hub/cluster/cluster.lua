#!lua name=tagarela
-- Tagarela's cluster state in Redis (spec/PROTOCOL.md §17), as one library
-- of Redis functions. Every change to the room is one function call, so
-- it is atomic: a name is checked and taken in one step, and every event
-- is numbered (INCR) and published (PUBLISH) in the same step, which makes
-- the numbers on the channel contiguous. Servers (nodes) call these with
-- FCALL and never write these keys any other way.
--
-- Keys (all under "tagarela:", in the database the --redis URL names):
--   seq            the last sequence number given
--   node:<node>    a node's lease: exists while the node is alive
--   nodes          the nodes that hold (or held) names
--   held:<node>    the name keys a node holds
--   name:<key>     who holds a name: name, node, reg, token, since, s1, s2
--   shape:<skel>   the name key holding a look-alike skeleton
--   gone:<key>     a released name's resume token and since, for 10 min
--   history        the kept public messages (a stream, ids <seq>-0)
-- Channel "tagarela:events": every event, one message each, fields
-- separated by LF (no name or text can hold one):
--   J seq at node reg name since              a join
--   L seq at node reg name reason text        a leave (text may be empty)
--   P seq at node reg from text               a public message
--   W seq at node reg from to text            a private message
--   M seq 0 node reg name since oldnode oldreg  a name resumed while held
--                                             (seq is the current number:
--                                             nobody is told, nothing new)
-- Private text is published only, never stored.

local P = 'tagarela:'
local CHANNEL = P .. 'events'
-- The version of what this library means: its keys, its channel's format
-- and its functions' arguments and replies. Raised with any change a node
-- of the previous version would misread. Nodes of one cluster speak one
-- version: a node never replaces a library of another version, it stays
-- out of the cluster instead (spec §17.5). link/library.rs's
-- LIBRARY_VERSION is the same number (a unit test checks).
local LIBRARY_VERSION = 1
-- How long a released name's token still takes it back (seconds): filled
-- in by the node as it loads the library, from the one constant both hubs
-- keep (hub/resume.rs), so the two can never disagree.
local RESUME_KEEP = {{RESUME_KEEP}}

-- Integers as decimal text (Lua's tostring would write 1e+15).
local function num(n)
  return string.format('%.0f', n)
end

-- Redis's clock, in ms. A node never shows an event stamped earlier than
-- the one before it (if Redis's clock steps back, nodes that entered at
-- different times may show such events a few ms apart).
local function stamp()
  local t = redis.call('TIME')
  return num(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end

local function next_seq()
  return num(redis.call('INCR', P .. 'seq'))
end

local function publish(fields)
  redis.call('PUBLISH', CHANNEL, table.concat(fields, '\n'))
end

local function alive(node)
  return redis.call('EXISTS', P .. 'node:' .. node) == 1
end

-- The clash taking `key` would make: nil, or {'taken'|'looks', holder}.
local function clash(key, s1, s2)
  local holder = redis.call('HGET', P .. 'name:' .. key, 'name')
  if holder then
    return { 'taken', holder }
  end
  for _, s in ipairs({ s1, s2 }) do
    local other = redis.call('GET', P .. 'shape:' .. s)
    if other and other ~= key then
      local name = redis.call('HGET', P .. 'name:' .. other, 'name')
      if name then
        return { 'looks', name }
      end
    end
  end
  return nil
end

-- Gives `key` to node/reg and publishes the join; `since` is '' for a new
-- holding (it starts at the join) or where a resumed holding began.
local function join(node, reg, name, key, s1, s2, token, since)
  local seq = next_seq()
  if since == '' then
    since = seq
  end
  redis.call('HSET', P .. 'name:' .. key, 'name', name, 'node', node, 'reg', reg,
    'token', token, 'since', since, 's1', s1, 's2', s2)
  redis.call('SET', P .. 'shape:' .. s1, key)
  redis.call('SET', P .. 'shape:' .. s2, key)
  redis.call('SADD', P .. 'held:' .. node, key)
  redis.call('SADD', P .. 'nodes', node)
  redis.call('DEL', P .. 'gone:' .. key)
  publish({ 'J', seq, stamp(), node, reg, name, since })
  return seq
end

-- Frees a held `key` and publishes its leave.
local function leave(key, reason, text)
  local nk = P .. 'name:' .. key
  local h = redis.call('HMGET', nk, 'name', 'node', 'token', 'since', 's1', 's2', 'reg')
  redis.call('DEL', nk)
  for _, s in ipairs({ h[5], h[6] }) do
    if s and redis.call('GET', P .. 'shape:' .. s) == key then
      redis.call('DEL', P .. 'shape:' .. s)
    end
  end
  redis.call('SREM', P .. 'held:' .. h[2], key)
  if h[3] and h[3] ~= '' then
    redis.call('HSET', P .. 'gone:' .. key, 'token', h[3], 'since', h[4])
    redis.call('EXPIRE', P .. 'gone:' .. key, RESUME_KEEP)
  end
  publish({ 'L', next_seq(), stamp(), h[2], h[7], h[1], reason, text })
end

-- Whether node/reg holds `key`; its display name if so.
local function holds(node, reg, key)
  local h = redis.call('HMGET', P .. 'name:' .. key, 'node', 'reg', 'name')
  if h[1] == node and h[2] == reg then
    return h[3]
  end
  return nil
end

-- Releases every name of every node whose lease has expired, announcing
-- each as lost: exactly once, whichever node runs it first.
local function reap()
  local n = 0
  for _, node in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
    if not alive(node) then
      for _, key in ipairs(redis.call('SMEMBERS', P .. 'held:' .. node)) do
        if redis.call('HGET', P .. 'name:' .. key, 'node') == node then
          leave(key, 'lost', '')
          n = n + 1
        end
      end
      redis.call('DEL', P .. 'held:' .. node)
      redis.call('SREM', P .. 'nodes', node)
    end
  end
  return n
end

-- version(): the version of this library (LIBRARY_VERSION).
redis.register_function{
  function_name = 'tagarela_version',
  callback = function() return LIBRARY_VERSION end,
  flags = { 'no-writes' },
}

-- enter(node, lease_ms, floor, history, seen): starts node's lease
-- ({'taken'} if another process has that identity); makes sure numbering
-- goes on above `floor` if Redis lost it, or went back below `seen` (the
-- last number this node saw: a restore of an older snapshot); returns
-- the snapshot {seq, {name, node, reg, since, ...}, latest history}.
redis.register_function('tagarela_enter', function(_, a)
  if not redis.call('SET', P .. 'node:' .. a[1], '1', 'NX', 'PX', a[2]) then
    return { 'taken' }
  end
  local seq = redis.call('GET', P .. 'seq')
  if not seq or tonumber(seq) < tonumber(a[5]) then
    redis.call('SET', P .. 'seq', a[3])
  end
  local names = {}
  for _, node in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
    for _, key in ipairs(redis.call('SMEMBERS', P .. 'held:' .. node)) do
      local h = redis.call('HMGET', P .. 'name:' .. key, 'name', 'node', 'reg', 'since')
      if h[1] and h[2] == node then
        for i = 1, 4 do
          names[#names + 1] = h[i]
        end
      end
    end
  end
  local history = {}
  if tonumber(a[4]) > 0 then
    history = redis.call('XREVRANGE', P .. 'history', '+', '-', 'COUNT', a[4])
  end
  return { redis.call('GET', P .. 'seq'), names, history }
end)

-- renew(node, lease_ms): 1 if the lease was still held and is extended,
-- 0 if it had expired (the node's names are, or will be, reaped).
redis.register_function('tagarela_renew', function(_, a)
  if redis.call('SET', P .. 'node:' .. a[1], '1', 'XX', 'PX', a[2]) then
    return 1
  end
  return 0
end)

-- reap(): see reap() above; returns how many names were released.
redis.register_function('tagarela_reap', function()
  return reap()
end)

-- abandon(node): ends node's lease now and releases its names (a node
-- that lost the cluster and comes back as a new incarnation).
redis.register_function('tagarela_abandon', function(_, a)
  redis.call('DEL', P .. 'node:' .. a[1])
  return reap()
end)

-- claim(node, reg, name, key, s1, s2, token): {'ok', seq} | {'taken'|
-- 'looks', holder} | {'fenced'} (this node's lease is gone).
redis.register_function('tagarela_claim', function(_, a)
  if not alive(a[1]) then
    return { 'fenced' }
  end
  local c = clash(a[4], a[5], a[6])
  if c then
    return c
  end
  return { 'ok', join(a[1], a[2], a[3], a[4], a[5], a[6], a[7], '') }
end)

-- resume(node, reg, name, key, s1, s2, presented, token): takes a name
-- back with the token it was given. Held: it moves to node/reg ({'moved'});
-- free and released with that token within RESUME_KEEP: joined as by
-- claim, its holding still starting where it began ({'ok', seq}).
-- Otherwise {'token'}, a clash, or {'fenced'}.
redis.register_function('tagarela_resume', function(_, a)
  if not alive(a[1]) then
    return { 'fenced' }
  end
  local nk = P .. 'name:' .. a[4]
  local h = redis.call('HMGET', nk, 'node', 'reg', 'token', 'since', 'name')
  if h[5] then
    if not h[3] or h[3] == '' or h[3] ~= a[7] then
      return { 'token' }
    end
    redis.call('HSET', nk, 'node', a[1], 'reg', a[2], 'token', a[8])
    redis.call('SREM', P .. 'held:' .. h[1], a[4])
    redis.call('SADD', P .. 'held:' .. a[1], a[4])
    redis.call('SADD', P .. 'nodes', a[1])
    local seq = redis.call('GET', P .. 'seq')
    publish({ 'M', seq, '0', a[1], a[2], h[5], h[4], h[1], h[2] })
    return { 'moved' }
  end
  local g = redis.call('HMGET', P .. 'gone:' .. a[4], 'token', 'since')
  if not g[1] or g[1] ~= a[7] then
    return { 'token' }
  end
  local c = clash(a[4], a[5], a[6])
  if c then
    return c
  end
  return { 'ok', join(a[1], a[2], a[3], a[4], a[5], a[6], a[8], g[2]) }
end)

-- release(node, reg, key, reason, text): 1 if node/reg held key (its
-- leave is published), else 0.
redis.register_function('tagarela_release', function(_, a)
  if not holds(a[1], a[2], a[3]) then
    return 0
  end
  leave(a[3], a[4], a[5])
  return 1
end)

-- public(node, reg, key, text, keep): 1 if published (and kept in the
-- history, trimmed to about `keep`), 0 if node/reg holds no such name.
redis.register_function('tagarela_public', function(_, a)
  local from = holds(a[1], a[2], a[3])
  if not from then
    return 0
  end
  local seq = next_seq()
  local at = stamp()
  if tonumber(a[5]) > 0 then
    redis.call('XADD', P .. 'history', 'MAXLEN', '~', a[5], seq .. '-0',
      'a', at, 'f', from, 't', a[4])
  end
  publish({ 'P', seq, at, a[1], a[2], from, a[4] })
  return 1
end)

-- private(node, reg, key, to_key, text, since): 1 if published, 0 if
-- node/reg holds no such name, -1 if nobody holds to_key, or someone whose
-- holding began elsewhere than `since` (the one the sender meant left).
redis.register_function('tagarela_private', function(_, a)
  local from = holds(a[1], a[2], a[3])
  if not from then
    return 0
  end
  local to = redis.call('HMGET', P .. 'name:' .. a[4], 'name', 'since')
  if not to[1] or to[2] ~= a[6] then
    return -1
  end
  to = to[1]
  publish({ 'W', next_seq(), stamp(), a[1], a[2], from, to, a[5] })
  return 1
end)
