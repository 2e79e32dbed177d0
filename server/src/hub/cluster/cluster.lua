#!lua name=tagarela
-- Tagarela's cluster state in Redis (spec/PROTOCOL.md §17, §19.7), as one
-- library of Redis functions. Every change is one function call, so it is
-- atomic: a name is checked and taken in one step, a room's bounds are
-- checked and it is entered in one step, and every event is numbered
-- (INCR) and published (PUBLISH) in the same step, which makes the
-- numbers on the channel contiguous. Servers (nodes) call these with
-- FCALL and never write these keys any other way.
--
-- Keys (all under "tagarela:", in the database the --redis URL names):
--   seq            the last sequence number given
--   node:<node>    a node's lease: exists while the node is alive
--   nodes          the nodes that hold (or held) names
--   held:<node>    the name keys a node holds
--   name:<key>     who holds a name: name, node, reg, token, since, s1, s2
--   shape:<skel>   the name key holding a look-alike skeleton
--   gone:<key>     a released name's resume token, since, the rooms it was
--                  in, those it ran and when each of those was born
--                  (LF-separated), for 10 min
--   settings       the rooms' bounds, as the first node gave them: default
--                  (the default room's name), dkey, per_client, max,
--                  members_max
--   rooms          the keys of every room, the default one included
--   room:<rkey>    a room: name, born (the number of its maker's join: a
--                  room made again under a forgotten one's name is
--                  another room); its topic: tseq, tat, tby, ttext
--   rshape:<skel>  the room key holding a look-alike skeleton
--   members:<rkey> the name keys in a room
--   in:<key>       the room keys a name is in
--   ops:<rkey>     the name keys that run a room
--   runs:<key>     the room keys a name runs
--   bans:<rkey>    a room's bans in order, each by its id: 'k:' and a
--                  name's key, or 'a:' and a network (a.b.c.d/n, x::/n)
--   banshow:<rkey> each ban's id -> the ban as BANS shows it
--   banmarks:<rkey> each ban's id -> what it refuses (LF-separated): its
--                  id, and for a name 's:' and each of its skeletons
--   banned:<rkey>  every mark of every ban: a newcomer is refused if one
--                  of its marks (the node's Ban::marks_of) is here
--   empty          rooms left empty (not the default one), by the number
--                  of the event that emptied them
--   history:<rkey> a room's kept public messages (a stream, ids <seq>-0;
--                  at most ROOM_RECENT_MAX for a room but the default one)
-- Channel "tagarela:events": every event, one message each, fields
-- separated by LF (no name, room name or text can hold one):
--   J seq at node reg name since [room...]    a join (of the default room;
--                                             a resumed holding lists the
--                                             rooms it is back in)
--   L seq at node reg name reason text        a leave (of the server)
--   P seq at node reg from text room          a public message
--   W seq at node reg from to text            a private message
--   M seq 0 node reg name since oldnode oldreg  a name resumed while held
--   E seq at node reg name room how forgot    name enters room (how: ''
--                                             joined, '1' created, 'r'
--                                             back after a resume)
--   X seq at node reg name room reason text   name leaves room
--   T seq at node reg by room text            a room's topic
--   O seq 0 node reg name room                name runs room too
--   B seq 0 node reg room target...           room's bans are now these
-- M, O and B are not events: seq is the current number, nobody is told.
-- Private text is published only, never stored.

local P = 'tagarela:'
local CHANNEL = P .. 'events'
-- The version of what this library means: its keys, its channel's format
-- and its functions' arguments and replies. Raised with any change a node
-- of the previous version would misread. Nodes of one cluster speak one
-- version: a node never replaces a library of another version, it stays
-- out of the cluster instead (spec §17.5). link/library.rs's
-- LIBRARY_VERSION is the same number (a unit test checks).
local LIBRARY_VERSION = 2
-- How long a released name's token still takes it back (seconds): filled
-- in by the node as it loads the library, from the one constant both hubs
-- keep (hub/resume.rs), so the two can never disagree.
local RESUME_KEEP = {{RESUME_KEEP}}
-- The most bans a room keeps (hub/room.rs's BANS_MAX, filled in the same
-- way).
local BANS_MAX = {{BANS_MAX}}
-- The most public messages a room other than the default one keeps (a
-- node keeps no more in memory: hub/hall.rs's ROOM_RECENT_MAX).
local ROOM_RECENT_MAX = {{ROOM_RECENT_MAX}}

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

local function current_seq()
  return redis.call('GET', P .. 'seq') or '0'
end

local function publish(fields)
  redis.call('PUBLISH', CHANNEL, table.concat(fields, '\n'))
end

local function alive(node)
  return redis.call('EXISTS', P .. 'node:' .. node) == 1
end

local function setting(field)
  return redis.call('HGET', P .. 'settings', field)
end

-- LF-separated text as a list (an empty text is an empty list).
local function split(text)
  local out = {}
  if text and text ~= '' then
    for item in string.gmatch(text, '[^\n]+') do
      out[#out + 1] = item
    end
  end
  return out
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

-- Puts `key` in room `rkey` (no event).
local function place(key, rkey)
  redis.call('SADD', P .. 'members:' .. rkey, key)
  redis.call('SADD', P .. 'in:' .. key, rkey)
  redis.call('ZREM', P .. 'empty', rkey)
end

-- Takes `key` out of room `rkey` at event `seq` (no event); a room other
-- than the default one that is left empty may be forgotten from then on.
local function unplace(key, rkey, seq)
  redis.call('SREM', P .. 'members:' .. rkey, key)
  redis.call('SREM', P .. 'in:' .. key, rkey)
  if rkey ~= setting('dkey') and redis.call('SCARD', P .. 'members:' .. rkey) == 0 then
    redis.call('ZADD', P .. 'empty', seq, rkey)
  end
end

-- Forgets room `rkey` (empty, not the default one).
local function forget(rkey)
  local rk = P .. 'room:' .. rkey
  for _, s in ipairs(redis.call('HMGET', rk, 's1', 's2')) do
    if s and redis.call('GET', P .. 'rshape:' .. s) == rkey then
      redis.call('DEL', P .. 'rshape:' .. s)
    end
  end
  for _, key in ipairs(redis.call('SMEMBERS', P .. 'ops:' .. rkey)) do
    redis.call('SREM', P .. 'runs:' .. key, rkey)
  end
  redis.call('DEL', rk, P .. 'members:' .. rkey, P .. 'ops:' .. rkey, P .. 'bans:' .. rkey,
    P .. 'banshow:' .. rkey, P .. 'banmarks:' .. rkey, P .. 'banned:' .. rkey,
    P .. 'history:' .. rkey)
  redis.call('SREM', P .. 'rooms', rkey)
  redis.call('ZREM', P .. 'empty', rkey)
end

-- Makes room `rname` (key `rkey`, skeletons s1 s2), born at `born`.
local function open(rname, rkey, s1, s2, born)
  redis.call('HSET', P .. 'room:' .. rkey, 'name', rname, 's1', s1, 's2', s2, 'born', born)
  redis.call('SET', P .. 'rshape:' .. s1, rkey)
  redis.call('SET', P .. 'rshape:' .. s2, rkey)
  redis.call('SADD', P .. 'rooms', rkey)
end

-- `key` runs `rkey` (no message).
local function make_operator(key, rkey)
  redis.call('SADD', P .. 'ops:' .. rkey, key)
  redis.call('SADD', P .. 'runs:' .. key, rkey)
end

-- Whether the room `rkey` bans any of `marks` (a name's key and shapes,
-- the networks holding its address: see the node's Ban::marks_of).
local function bans_any(rkey, marks)
  local b = P .. 'banned:' .. rkey
  for _, mark in ipairs(marks) do
    if redis.call('SISMEMBER', b, mark) == 1 then
      return true
    end
  end
  return false
end

-- Gives `key` to node/reg and publishes the join (of the default room);
-- `since` is '' for a new holding (it starts at the join) or where a
-- resumed holding began, and then `back` lists the rooms it is back in,
-- each entered just after with its own event.
local function join(node, reg, name, key, s1, s2, token, since, back)
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
  place(key, setting('dkey'))
  local fields = { 'J', seq, stamp(), node, reg, name, since }
  for _, room in ipairs(back or {}) do
    fields[#fields + 1] = room[2]
  end
  publish(fields)
  return seq
end

-- Puts `key` (shown `name`) in room `rkey`, publishing the entry.
local function enter(node, reg, name, key, rkey, how, forgot)
  local seq = next_seq()
  place(key, rkey)
  local rname = redis.call('HGET', P .. 'room:' .. rkey, 'name')
  publish({ 'E', seq, stamp(), node, reg, name, rname, how, forgot or '' })
  return seq
end

-- Takes `key` out of room `rkey`, publishing its leave of the room (with
-- node/reg: who caused it).
local function exit(node, reg, key, rkey, reason, text)
  local seq = next_seq()
  local name = redis.call('HGET', P .. 'name:' .. key, 'name')
  local rname = redis.call('HGET', P .. 'room:' .. rkey, 'name')
  unplace(key, rkey, seq)
  publish({ 'X', seq, stamp(), node, reg, name, rname, reason, text })
end

-- Frees a held `key` and publishes its leave: of every room it is in
-- (the default one last, with the name), and of what it ran, which a
-- `quit` gives up and a lost connection keeps for a resume.
local function leave(key, reason, text)
  local nk = P .. 'name:' .. key
  local h = redis.call('HMGET', nk, 'name', 'node', 'token', 'since', 's1', 's2', 'reg')
  local dkey = setting('dkey')
  local rooms = {}
  for _, rkey in ipairs(redis.call('SMEMBERS', P .. 'in:' .. key)) do
    if rkey ~= dkey then
      rooms[#rooms + 1] = rkey
      exit(h[2], h[7], key, rkey, reason, text)
    end
  end
  local runs = redis.call('SMEMBERS', P .. 'runs:' .. key)
  local borns = {}
  for _, rkey in ipairs(runs) do
    redis.call('SREM', P .. 'ops:' .. rkey, key)
    borns[#borns + 1] = redis.call('HGET', P .. 'room:' .. rkey, 'born') or '0'
  end
  redis.call('DEL', nk, P .. 'runs:' .. key)
  for _, s in ipairs({ h[5], h[6] }) do
    if s and redis.call('GET', P .. 'shape:' .. s) == key then
      redis.call('DEL', P .. 'shape:' .. s)
    end
  end
  redis.call('SREM', P .. 'held:' .. h[2], key)
  if h[3] and h[3] ~= '' then
    if reason == 'quit' then
      runs = {}
      borns = {}
    end
    redis.call('HSET', P .. 'gone:' .. key, 'token', h[3], 'since', h[4],
      'rooms', table.concat(rooms, '\n'), 'runs', table.concat(runs, '\n'),
      'borns', table.concat(borns, '\n'))
    redis.call('EXPIRE', P .. 'gone:' .. key, RESUME_KEEP)
  end
  local seq = next_seq()
  unplace(key, dkey, seq)
  redis.call('DEL', P .. 'in:' .. key)
  publish({ 'L', seq, stamp(), h[2], h[7], h[1], reason, text })
end

-- Whether node/reg holds `key`; its display name if so.
local function holds(node, reg, key)
  local h = redis.call('HMGET', P .. 'name:' .. key, 'node', 'reg', 'name')
  if h[1] == node and h[2] == reg then
    return h[3]
  end
  return nil
end

-- Why `key` may not act on room `rkey`: nil if it may, else the refusal.
-- `member`: it must be in the room; `op`: it must run it (an operator
-- stays one after /part, spec §19.6).
local function refuse(key, rkey, member, op)
  if redis.call('EXISTS', P .. 'room:' .. rkey) == 0 then
    return { 'no-such-room' }
  end
  if member and redis.call('SISMEMBER', P .. 'members:' .. rkey, key) == 0 then
    return { 'not-in-room' }
  end
  if op and redis.call('SISMEMBER', P .. 'ops:' .. rkey, key) == 0 then
    return { 'not-operator' }
  end
  return nil
end

-- The room's bans, as BANS shows them, in order.
local function ban_list(rkey)
  local ids = redis.call('LRANGE', P .. 'bans:' .. rkey, 0, -1)
  if #ids == 0 then
    return {}
  end
  return redis.call('HMGET', P .. 'banshow:' .. rkey, unpack(ids))
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

-- The display names of the name keys in set `set` (held ones only).
local function names_in(set)
  local out = {}
  for _, key in ipairs(redis.call('SMEMBERS', set)) do
    local name = redis.call('HGET', P .. 'name:' .. key, 'name')
    if name then
      out[#out + 1] = name
    end
  end
  return out
end

-- A room as a snapshot gives it: {name, tseq, tat, tby, ttext, {member
-- names}, {operator names}, {bans}, latest history (newest first), born}.
local function room_snapshot(rkey, count)
  local r = redis.call('HMGET', P .. 'room:' .. rkey, 'name', 'tseq', 'tat', 'tby', 'ttext',
    'born')
  local history = {}
  if rkey ~= setting('dkey') then
    count = math.min(count, ROOM_RECENT_MAX)
  end
  if count > 0 then
    history = redis.call('XREVRANGE', P .. 'history:' .. rkey, '+', '-', 'COUNT', count)
  end
  return { r[1], r[2] or '', r[3] or '', r[4] or '', r[5] or '',
    names_in(P .. 'members:' .. rkey), names_in(P .. 'ops:' .. rkey),
    ban_list(rkey), history, r[6] or '0' }
end

-- version(): the version of this library (LIBRARY_VERSION).
redis.register_function{
  function_name = 'tagarela_version',
  callback = function() return LIBRARY_VERSION end,
  flags = { 'no-writes' },
}

-- enter(node, lease_ms, floor, history, seen, default, dkey, ds1, ds2,
-- per_client, max, members_max): starts node's lease ({'taken'} if
-- another process has that identity); makes sure numbering goes on above
-- `floor` if Redis lost it, or went back below `seen` (the last number
-- this node saw: a restore of an older snapshot); the first node's room
-- bounds are the cluster's. Returns the snapshot {seq, {name, node, reg,
-- since, ...}, {room, ...} (see room_snapshot), {default, per_client,
-- max, members_max}}.
redis.register_function('tagarela_enter', function(_, a)
  if not redis.call('SET', P .. 'node:' .. a[1], '1', 'NX', 'PX', a[2]) then
    return { 'taken' }
  end
  local seq = redis.call('GET', P .. 'seq')
  if not seq or tonumber(seq) < tonumber(a[5]) then
    redis.call('SET', P .. 'seq', a[3])
  end
  if redis.call('EXISTS', P .. 'settings') == 0 then
    redis.call('HSET', P .. 'settings', 'default', a[6], 'dkey', a[7], 'per_client', a[10],
      'max', a[11], 'members_max', a[12])
  end
  local dkey = setting('dkey')
  if redis.call('EXISTS', P .. 'room:' .. dkey) == 0 then
    open(setting('default'), dkey, a[8], a[9], '0')
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
  local rooms = {}
  for _, rkey in ipairs(redis.call('SMEMBERS', P .. 'rooms')) do
    rooms[#rooms + 1] = room_snapshot(rkey, tonumber(a[4]))
  end
  local settings = redis.call('HMGET', P .. 'settings', 'default', 'per_client', 'max',
    'members_max')
  return { redis.call('GET', P .. 'seq'), names, rooms, settings }
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

-- resume(node, reg, name, key, s1, s2, presented, token, rooms, marks):
-- takes a name back with the token it was given (a holding in rooms other
-- than the default one only if `rooms` is '1': the client speaks rooms,
-- §19.1). Held: it moves to node/reg
-- ({'moved'}); free and released with that token within RESUME_KEEP:
-- joined as by claim, its holding still starting where it began, back in
-- the rooms it was in that are still there (within the bound, and not
-- where a ban of one of its `marks`, LF-separated, keeps it out) and running those it ran ({'ok', seq}). Otherwise {'token'},
-- a clash, or {'fenced'}.
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
    local rooms = redis.call('SMEMBERS', P .. 'in:' .. a[4])
    if a[9] ~= '1' and not (#rooms == 1 and rooms[1] == setting('dkey')) then
      return { 'token' }
    end
    redis.call('HSET', nk, 'node', a[1], 'reg', a[2], 'token', a[8])
    redis.call('SREM', P .. 'held:' .. h[1], a[4])
    redis.call('SADD', P .. 'held:' .. a[1], a[4])
    redis.call('SADD', P .. 'nodes', a[1])
    publish({ 'M', current_seq(), '0', a[1], a[2], h[5], h[4], h[1], h[2] })
    return { 'moved' }
  end
  local g = redis.call('HMGET', P .. 'gone:' .. a[4], 'token', 'since', 'rooms', 'runs', 'borns')
  if not g[1] or g[1] ~= a[7] or (a[9] ~= '1' and g[3] and g[3] ~= '') then
    return { 'token' }
  end
  local c = clash(a[4], a[5], a[6])
  if c then
    return c
  end
  local marks = split(a[10])
  -- The default room is the first of its rooms.
  local room_bound = tonumber(setting('per_client')) - 1
  local back = {}
  for _, rkey in ipairs(split(g[3])) do
    local rname = redis.call('HGET', P .. 'room:' .. rkey, 'name')
    if rname and #back < room_bound and not bans_any(rkey, marks) then
      back[#back + 1] = { rkey, rname }
    end
  end
  local seq = join(a[1], a[2], a[3], a[4], a[5], a[6], a[8], g[2], back)
  local ran = {}
  local borns = split(g[5])
  for i, rkey in ipairs(split(g[4])) do
    ran[rkey] = borns[i]
  end
  for _, room in ipairs(back) do
    enter(a[1], a[2], a[3], a[4], room[1], 'r')
  end
  -- It runs again what it ran that is still there, back in it or not
  -- (an operator stays one after /part, §19.6), and still the room it
  -- ran (not one made again under its name since).
  for rkey, born in pairs(ran) do
    local r = redis.call('HMGET', P .. 'room:' .. rkey, 'name', 'born')
    local rname = r[1]
    if rname and r[2] == born then
      make_operator(a[4], rkey)
      -- Registration 0: nobody asked, nobody is answered.
      publish({ 'O', current_seq(), '0', a[1], '0', a[3], rname })
    end
  end
  return { 'ok', seq }
end)

-- release(node, reg, key, reason, text): 1 if node/reg held key (its
-- leaves are published), else 0.
redis.register_function('tagarela_release', function(_, a)
  if not holds(a[1], a[2], a[3]) then
    return 0
  end
  leave(a[3], a[4], a[5])
  return 1
end)

-- public(node, reg, key, text, keep, rkey): 1 if published in room rkey
-- (and kept in its history, trimmed to about `keep`), 0 if node/reg holds
-- no such name, else the room's refusal.
redis.register_function('tagarela_public', function(_, a)
  local from = holds(a[1], a[2], a[3])
  if not from then
    return 0
  end
  local rkey = a[6]
  local no = refuse(a[3], rkey, true, false)
  if no then
    return no
  end
  local seq = next_seq()
  local at = stamp()
  local keep = tonumber(a[5])
  if rkey ~= setting('dkey') then
    keep = math.min(keep, ROOM_RECENT_MAX)
  end
  if keep > 0 then
    redis.call('XADD', P .. 'history:' .. rkey, 'MAXLEN', '~', keep, seq .. '-0',
      'a', at, 'f', from, 't', a[4])
  end
  local rname = redis.call('HGET', P .. 'room:' .. rkey, 'name')
  publish({ 'P', seq, at, a[1], a[2], from, a[4], rname })
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

-- join_room(node, reg, key, room, rkey, s1, s2, marks): node/reg's name
-- enters the room, which is made (and run by it) if there is none: 1,
-- {'in'} (it is in it already), 0 (node/reg holds no such name), or the
-- refusal: {'too-many-rooms'}, {'room-full'}, {'banned'} (a ban of one of
-- `marks`, LF-separated), {'looks', room}, {'no-more-rooms'}.
redis.register_function('tagarela_join_room', function(_, a)
  local name = holds(a[1], a[2], a[3])
  if not name then
    return 0
  end
  local key, rkey = a[3], a[5]
  if redis.call('SISMEMBER', P .. 'members:' .. rkey, key) == 1 then
    return { 'in' }
  end
  if redis.call('SCARD', P .. 'in:' .. key) >= tonumber(setting('per_client')) then
    return { 'too-many-rooms' }
  end
  if redis.call('EXISTS', P .. 'room:' .. rkey) == 1 then
    if bans_any(rkey, split(a[8])) then
      return { 'banned' }
    end
    if rkey ~= setting('dkey')
        and redis.call('SCARD', P .. 'members:' .. rkey) >= tonumber(setting('members_max')) then
      return { 'room-full' }
    end
    enter(a[1], a[2], name, key, rkey, '')
    return 1
  end
  for _, s in ipairs({ a[6], a[7] }) do
    local other = redis.call('GET', P .. 'rshape:' .. s)
    if other and other ~= rkey then
      local shown = redis.call('HGET', P .. 'room:' .. other, 'name')
      if shown then
        return { 'looks', shown }
      end
    end
  end
  local forgot = ''
  if redis.call('SCARD', P .. 'rooms') >= tonumber(setting('max')) then
    local oldest = redis.call('ZRANGE', P .. 'empty', 0, 0)[1]
    if not oldest then
      return { 'no-more-rooms' }
    end
    forgot = redis.call('HGET', P .. 'room:' .. oldest, 'name') or ''
    forget(oldest)
  end
  -- Born at the number its maker's join takes, the next one.
  open(a[4], rkey, a[6], a[7], num(tonumber(current_seq()) + 1))
  make_operator(key, rkey)
  enter(a[1], a[2], name, key, rkey, '1', forgot)
  return 1
end)

-- part_room(node, reg, key, rkey, reason, text, target): node/reg's name
-- leaves the room (target ''), or removes target from it (reason
-- 'kicked': its operators only): 1, 0 (node/reg holds no such name), or
-- the refusal ({'no-such-room'}, {'not-in-room'}, {'not-operator'},
-- {'no-member'}).
redis.register_function('tagarela_part_room', function(_, a)
  if not holds(a[1], a[2], a[3]) then
    return 0
  end
  local target = a[3]
  if a[7] ~= '' then
    target = a[7]
  end
  local kick = target ~= a[3]
  local no = refuse(a[3], a[4], not kick, kick)
  if no then
    return no
  end
  if redis.call('SISMEMBER', P .. 'members:' .. a[4], target) == 0 then
    return { 'no-member' }
  end
  exit(a[1], a[2], target, a[4], a[5], a[6])
  return 1
end)

-- topic(node, reg, key, rkey, text): node/reg's name (an operator of the
-- room) sets its topic: 1, 0, or the refusal.
redis.register_function('tagarela_topic', function(_, a)
  local by = holds(a[1], a[2], a[3])
  if not by then
    return 0
  end
  local no = refuse(a[3], a[4], true, true)
  if no then
    return no
  end
  local seq = next_seq()
  local at = stamp()
  local rk = P .. 'room:' .. a[4]
  redis.call('HSET', rk, 'tseq', seq, 'tat', at, 'tby', by, 'ttext', a[5])
  publish({ 'T', seq, at, a[1], a[2], by, redis.call('HGET', rk, 'name'), a[5] })
  return 1
end)

-- op(node, reg, key, rkey, target): node/reg's name (an operator of the
-- room) makes target (in the room) an operator too: 1, 0, or the refusal.
redis.register_function('tagarela_op', function(_, a)
  if not holds(a[1], a[2], a[3]) then
    return 0
  end
  local no = refuse(a[3], a[4], false, true)
  if no then
    return no
  end
  if redis.call('SISMEMBER', P .. 'members:' .. a[4], a[5]) == 0 then
    return { 'no-member' }
  end
  make_operator(a[5], a[4])
  local name = redis.call('HGET', P .. 'name:' .. a[5], 'name')
  local rname = redis.call('HGET', P .. 'room:' .. a[4], 'name')
  publish({ 'O', current_seq(), '0', a[1], a[2], name, rname })
  return 1
end)

-- ban(node, reg, key, rkey, on, id, shown, marks, within): node/reg's
-- name (an operator of the room) bans `id` (on '1': shown as `shown`,
-- refusing `marks`, LF-separated) or takes bans back (on ''): the one
-- with `id`, or, for a single address, every network ban among `within`
-- (the networks holding it, LF-separated). Publishes the room's bans
-- after: 1, 0, or the refusal ({'ban-list-full'} past BANS_MAX).
redis.register_function('tagarela_ban', function(_, a)
  if not holds(a[1], a[2], a[3]) then
    return 0
  end
  local rkey = a[4]
  local no = refuse(a[3], rkey, false, true)
  if no then
    return no
  end
  local list, show = P .. 'bans:' .. rkey, P .. 'banshow:' .. rkey
  local marks, banned = P .. 'banmarks:' .. rkey, P .. 'banned:' .. rkey
  if a[5] == '1' then
    if redis.call('HEXISTS', show, a[6]) == 0 then
      if redis.call('LLEN', list) >= BANS_MAX then
        return { 'ban-list-full' }
      end
      redis.call('RPUSH', list, a[6])
      redis.call('HSET', show, a[6], a[7])
      redis.call('HSET', marks, a[6], a[8])
      for _, mark in ipairs(split(a[8])) do
        redis.call('SADD', banned, mark)
      end
    end
  else
    local gone = { [a[6]] = true }
    for _, mark in ipairs(split(a[9])) do
      gone[mark] = true
    end
    for _, id in ipairs(redis.call('LRANGE', list, 0, -1)) do
      if gone[id] then
        redis.call('LREM', list, 0, id)
        redis.call('HDEL', show, id)
        redis.call('HDEL', marks, id)
      end
    end
    -- Two bans may share a mark (two names of one shape): the set is
    -- made again from those left.
    redis.call('DEL', banned)
    for _, id in ipairs(redis.call('LRANGE', list, 0, -1)) do
      for _, mark in ipairs(split(redis.call('HGET', marks, id))) do
        redis.call('SADD', banned, mark)
      end
    end
  end
  local fields = { 'B', current_seq(), '0', a[1], a[2], redis.call('HGET', P .. 'room:' .. rkey, 'name') }
  for _, t in ipairs(ban_list(rkey)) do
    fields[#fields + 1] = t
  end
  publish(fields)
  return 1
end)
