--- switchboard.hub: channels, presence, typing and history for Lua.
-- The state and fan-out live in C (switchboard.core hub); this module adds
-- the conveniences: argument checks, JSON encoding of payloads (once per
-- publish), sorted lists and several listeners per event.
-- @module switchboard.hub
local core = require "switchboard.core"
local json = require "switchboard.json"
local options = require "switchboard.options"
local util = require "switchboard.util"

local M = {}

local Hub = util.class("switchboard.Hub")

local EVENTS = {
    ["presence:join"] = true,
    ["presence:leave"] = true,
    ["typing"] = true,
    ["session:join"] = true,
    ["session:leave"] = true,
}

--- The member id watchers join a channel as: connections that get its
-- messages but are no members (an SSE stream that names nobody, on a
-- channel whose rule says `watchers = true`; docs/sse.md, "Watchers").
-- They share this one id, which the hub leaves out of presence,
-- is_present, member_count, member_of, channels() and the presence:join /
-- presence:leave events; they count as connections and fire the session
-- events.  `hub:join(channel, hub.WATCHERS, conn)` makes any connection
-- a watcher.
M.WATCHERS = "(watchers)"
local WATCHERS = M.WATCHERS
Hub.WATCHERS = WATCHERS   -- hub.WATCHERS on every hub

local PUBLISH_OPTIONS = {
    except = true, except_member = true, from = true, alias = true, binary = true,
}

-- Misuse (a wrong type) raises, pointing at the caller of the method.
local function check_type(method, what, value, want)
    if type(value) ~= want then
        error(("hub:%s: %s must be a %s, got %s"):format(method, what, want, type(value)), 3)
    end
end

-- Member ids are strings; integral numbers are accepted as their digits.
local function member_arg(method, member)
    if type(member) == "number" and member == math.floor(member) then
        return ("%d"):format(member)
    end
    check_type(method, "member id", member, "string")
    return member
end

local function check_conn(method, conn)
    local t = type(conn)
    if t ~= "userdata" and t ~= "table" then
        error(("hub:%s: connection expected, got %s"):format(method, t), 3)
    end
end

local function bad_channel(channel)
    return nil, ("invalid channel name %q: want 1..255 bytes of [A-Za-z0-9_.:@/-]"):format(channel), "ECHANNEL"
end

local function bad_member(member)
    return nil, ("invalid member id %q: want 1..255 bytes, no control characters"):format(member), "EMEMBER"
end

-- JSON text to a Lua value; "null" becomes nil, undecodable text stays text.
local function decode(text, info)
    if info and info.binary then
        return text
    end
    local value = json.decode(text)
    if value == nil then
        return text
    end
    if value == json.null then
        return nil
    end
    return value
end

local function sorted(list)
    table.sort(list)
    return list
end

-- Calls every listener of `name`; a copy of the list is walked so that
-- listeners may add or remove listeners.
local function dispatch(self, name, channel, member, conn, typing, remote)
    if member == WATCHERS and (name == "presence:join" or name == "presence:leave") then
        return
    end
    local list = self.listeners[name]
    if not list or #list == 0 then
        return
    end
    local copy = {}
    for i = 1, #list do
        copy[i] = list[i]
    end
    for i = 1, #copy do
        if name == "typing" then
            copy[i](channel, member, typing, remote)
        else
            copy[i](channel, member, conn)
        end
    end
end

--- A new hub.
-- @tparam[opt] table opts { typing_ttl = s, history = n, history_ttl = s,
--   max_channels = n, max_idle_channels = n, clock = fn }
-- @param[opt] loop the loop whose step()/run() expire typing and history
--   (default: switchboard.loop()).  With opts.clock the hub has no timer:
--   its time is not the loop's, and hub:tick() expires what is due.
function M.new(opts, loop)
    if opts == nil then
        opts = {}
    end
    options.check("switchboard.hub", options.schemas.hub, opts, 2)
    if opts.clock == nil then
        loop = loop or require("switchboard").loop()
    end
    local self = setmetatable({ core = core.hub_new(opts, loop), listeners = {}, _loop = loop }, Hub)
    for name in pairs(EVENTS) do
        self.listeners[name] = {}
    end
    self.core:on_event(function(name, channel, member, conn, typing, remote)
        -- a connection that leaves a channel takes its presence metas along
        if name == "session:leave" and conn ~= nil then
            self:untrack(conn, channel)
        end
        dispatch(self, name, channel, member, conn, typing, remote)
    end)
    self.metas = {}      -- topic -> key -> { { conn =, meta = }, ... }
    self.tracked = {}    -- conn -> topic -> key
    self.ref_seq = 0
    return self
end

--- A fake connection: fn(channel, event, payload, info) gets each message.
function Hub:attach(fn)
    check_type("attach", "callback", fn, "function")
    return self.core:attach(function(channel, event, text, info)
        fn(channel, event, decode(text, info), info)
    end)
end

--- Joins conn to channel as member_id; returns true when the member just
-- became present, false if it already was, or nil, err.
function Hub:join(channel, member_id, conn)
    check_type("join", "channel", channel, "string")
    member_id = member_arg("join", member_id)
    check_conn("join", conn)
    if member_id ~= WATCHERS then
        return self.core:join(channel, member_id, conn)
    end
    local fresh, err, code = self.core:join(channel, member_id, conn)
    if fresh == nil then
        return nil, err, code
    end
    return false   -- a watcher never makes anyone present
end

--- Leaves channel; returns true when the member became absent, false if it
-- stays present or conn was not joined, or nil, err.
function Hub:leave(channel, member_id, conn)
    check_type("leave", "channel", channel, "string")
    member_id = member_arg("leave", member_id)
    check_conn("leave", conn)
    if not core.hub_valid_channel(channel) then
        return bad_channel(channel)
    end
    if not core.hub_valid_member(member_id) then
        return bad_member(member_id)
    end
    local joined_as = self.core:member_of(channel, conn)
    if joined_as and joined_as ~= member_id then
        return nil, ("connection %s joined channel %q as member %q, not %q"):format(
            tostring(conn.id), channel, joined_as, member_id), "EJOINED"
    end
    if member_id ~= WATCHERS then
        return self.core:leave(channel, conn)
    end
    local gone, err, code = self.core:leave(channel, conn)
    if gone == nil then
        return nil, err, code
    end
    return false
end

--- Leaves every channel of conn.
function Hub:disconnect(conn)
    check_conn("disconnect", conn)
    self.core:disconnect(conn)
end

--- Publishes payload (any JSON-encodable value, encoded once) to channel;
-- returns the number of receivers, or nil, err.
function Hub:publish(channel, event, payload, opts)
    check_type("publish", "channel", channel, "string")
    if event == nil then
        event = "message"
    end
    check_type("publish", "event", event, "string")
    if opts == nil then
        opts = {}
    end
    check_type("publish", "options", opts, "table")
    for k in pairs(opts) do
        if not PUBLISH_OPTIONS[k] then
            error(("hub:publish: unknown option %q"):format(tostring(k)), 2)
        end
    end
    if opts.except ~= nil then
        check_conn("publish", opts.except)
    end
    local except_member = opts.except_member
    if except_member ~= nil then
        except_member = member_arg("publish", except_member)
    end
    for _, k in ipairs { "from", "alias" } do
        if opts[k] ~= nil and type(opts[k]) ~= "string" then
            error(("hub:publish: option %s must be a string, got %s"):format(k, type(opts[k])), 2)
        end
    end
    if not core.hub_valid_channel(channel) then
        return bad_channel(channel)
    end
    if opts.binary then
        -- raw bytes: Phoenix V2 subscribers get a binary broadcast frame,
        -- native clients that asked with ?binary=true the bytes as a
        -- binary frame, the others nothing (they cannot read bytes)
        check_type("publish", "binary payload", payload, "string")
        return self.core:publish(channel, event, payload, opts.except, except_member,
            opts.from, opts.alias, true)
    end
    local ok, text = pcall(json.encode, payload)
    if not ok then
        error("hub:publish: payload cannot be encoded as JSON: " .. tostring(text), 2)
    end
    return self.core:publish(channel, event, text, opts.except, except_member,
        opts.from, opts.alias, false)
end

--- Sends one message to the connections of member_id in channel, on
-- every node of a cluster: each protocol gets it as it gets a publish
-- (event and payload, encoded once), but nobody else does, it has no
-- id and the history keeps nothing.  Returns the number of this node's
-- connections it reached and true when other nodes have the member in
-- the channel too (it went to them as well), or nil, err.
function Hub:deliver(channel, member_id, event, payload)
    check_type("deliver", "channel", channel, "string")
    member_id = member_arg("deliver", member_id)
    if event == nil then
        event = "message"
    end
    check_type("deliver", "event", event, "string")
    if member_id == WATCHERS then
        return 0, false   -- no member: watchers share the id
    end
    local ok, text = pcall(json.encode, payload)
    if not ok then
        error("hub:deliver: payload cannot be encoded as JSON: " .. tostring(text), 2)
    end
    return core.hub_deliver(self.core, channel, member_id, event, text)
end

-- 1 when channel has watchers (their one hidden member), else 0.
local function watched(self, channel)
    return self.core:is_present(channel, WATCHERS) and 1 or 0
end

--- Sorted member ids present in channel.
function Hub:presence(channel)
    check_type("presence", "channel", channel, "string")
    local list = self.core:presence(channel)
    for i = #list, 1, -1 do
        if list[i] == WATCHERS then
            table.remove(list, i)
        end
    end
    return sorted(list)
end

--- True when member_id has at least one connection in channel (on any
-- node of a cluster).
function Hub:is_present(channel, member_id)
    check_type("is_present", "channel", channel, "string")
    member_id = member_arg("is_present", member_id)
    return member_id ~= WATCHERS and self.core:is_present(channel, member_id)
end

--- Number of members present in channel (a member with several
-- connections counts once; watchers not at all).
function Hub:member_count(channel)
    check_type("member_count", "channel", channel, "string")
    local n = self.core:member_count(channel)
    return n and n - watched(self, channel)
end

--- Number of connections joined to channel.
function Hub:connection_count(channel)
    check_type("connection_count", "channel", channel, "string")
    return self.core:connection_count(channel)
end

--- The member id conn joined channel as, or nil (also for a watcher).
function Hub:member_of(channel, conn)
    check_type("member_of", "channel", channel, "string")
    check_conn("member_of", conn)
    local member = self.core:member_of(channel, conn)
    if member == WATCHERS then
        return nil
    end
    return member
end

--- Sets or clears the typing flag of a present member (cleared again
-- typing_ttl seconds after the last set); returns true if it changed,
-- false if not, or nil, err.  With conn, it must be joined as member_id.
function Hub:set_typing(channel, member_id, typing, conn)
    check_type("set_typing", "channel", channel, "string")
    member_id = member_arg("set_typing", member_id)
    check_type("set_typing", "typing", typing, "boolean")
    if conn ~= nil then
        check_conn("set_typing", conn)
        if core.hub_valid_channel(channel) and self.core:member_of(channel, conn) ~= member_id then
            return nil, ("connection %s is not joined to channel %q as member %q"):format(
                tostring(conn.id), channel, member_id), "ENOTFOUND"
        end
    end
    return self.core:set_typing(channel, member_id, typing)
end

--- Sorted member ids typing in channel.
function Hub:typing(channel)
    check_type("typing", "channel", channel, "string")
    return sorted(self.core:typing(channel))
end

--- Channels with at least one connection, sorted by name:
-- { { name =, members =, connections = }, ... } (watchers are
-- connections, not members).
function Hub:channels()
    local list = self.core:channels()
    for _, c in ipairs(list) do
        c.members = c.members - watched(self, c.name)
    end
    table.sort(list, function(a, b) return a.name < b.name end)
    return list
end

-- The servers on this hub (switchboard.api_users keeps the set) decide
-- from its listeners whether connections need Lua objects: tell them.
local function servers_relazy(self)
    for srv in pairs(rawget(self, "_api_servers") or {}) do
        srv:_relazy()
    end
end

--- Adds a listener; returns the hub.  Listeners run after the state
-- changed and may call the hub.  Order: a join fires session:join then
-- presence:join (when the member became present); a leave fires typing
-- (false, when a typing member became absent), presence:leave (when it
-- became absent), then session:leave.  Arguments: channel, member_id, conn;
-- for typing: channel, member_id, typing, remote (true when the flag was
-- set on another node of a cluster: that node reacts to it already).
function Hub:on(name, fn)
    check_type("on", "event name", name, "string")
    if not EVENTS[name] then
        error(("hub:on: unknown event %q (want presence:join, presence:leave, typing, "
            .. "session:join or session:leave)"):format(name), 2)
    end
    check_type("on", "listener", fn, "function")
    local list = self.listeners[name]
    list[#list + 1] = fn
    servers_relazy(self)
    return self
end

--- Removes a listener; returns true if it was registered.
function Hub:off(name, fn)
    check_type("off", "event name", name, "string")
    if not EVENTS[name] then
        error(("hub:off: unknown event %q"):format(name), 2)
    end
    local list = self.listeners[name]
    for i = #list, 1, -1 do
        if list[i] == fn then
            table.remove(list, i)
            servers_relazy(self)
            return true
        end
    end
    return false
end

-- Events whose listeners are handed the connection (a local one's object).
local CONN_EVENTS = { "session:join", "session:leave", "presence:join", "presence:leave" }

-- True when a listener would be handed connections: the servers on this
-- hub then give every connection its Lua object (server.lua, "lazy").
function Hub:_wants_conns()
    for _, name in ipairs(CONN_EVENTS) do
        if #self.listeners[name] > 0 then
            return true
        end
    end
    return false
end

--- Expires typing flags and history; returns seconds until the next
-- deadline, or nil when nothing is pending.  A hub without a clock option
-- does this by itself while the loop turns; this is for hubs with one.
function Hub:tick()
    return self.core:tick()
end

--- Channel epoch and last offset (0, 0 for an unknown channel).
function Hub:position(channel)
    check_type("position", "channel", channel, "string")
    return self.core:position(channel)
end

--- Calls fn(channel, event, payload, info) for each kept message after
-- offset `after` of epoch `epoch`; returns the count, or nil, "gap".
function Hub:replay(channel, epoch, after, fn)
    check_type("replay", "channel", channel, "string")
    check_type("replay", "epoch", epoch, "number")
    check_type("replay", "offset", after, "number")
    check_type("replay", "callback", fn, "function")
    return self.core:replay(channel, epoch, after, function(ch, event, text, info)
        fn(ch, event, decode(text, info), info)
    end)
end

--- Totals of the C hub: { channels =, idle_channels =, subscriptions =,
-- members =, typing =, kept_messages = } (idle channels are kept only for
-- their history).
function Hub:stats()
    return self.core:stats()
end

--- A node name when none is given: unique enough for one cluster.
function M.default_node()
    local host = (os.getenv("HOSTNAME") or "node"):gsub("[^%w_.:-]", ""):sub(1, 40)
    if host == "" then
        host = "node"
    end
    -- a table's address differs between processes (ASLR) even where an
    -- unseeded math.random does not (Lua 5.1, LuaJIT)
    local addr = tonumber((tostring({}):match("0x(%x+)") or "0"):sub(-4), 16) or 0
    return ("%s-%x%04x"):format(host, math.floor(core.now_ms()) % 0x1000000,
        (math.random(0, 0xffff) + addr) % 0x10000)
end

--- Joins this hub to the other nodes sharing a Redis: every publish also
-- reaches their subscribers, and presence (hub:presence, member_count,
-- presence:join / presence:leave) covers the whole cluster, and channels
-- with history share one history in Redis (same ids on every node).
-- opts { redis = "redis://HOST:PORT/DB", node = name (default: unique),
--        ttl = seconds a silent node stays alive (10), log = fn(line),
--        history_idle = seconds a shared history outlives its last
--        message (86400) }.
-- Returns the hub, or nil, err.  `loop` defaults to switchboard.loop().
function Hub:join_cluster(opts, loop)
    options.check("hub:join_cluster", options.schemas.cluster, opts, 2)
    if self._cluster then
        error("hub:join_cluster: this hub already belongs to a cluster", 2)
    end
    local node = opts.node or M.default_node()
    if not core.cluster_valid_node(node) then
        return nil, ("invalid node name %q: want 1..64 bytes of [A-Za-z0-9_.:-]"):format(node)
    end
    loop = loop or require("switchboard").loop()
    local cluster, err = core.cluster_new(loop, self.core, {
        redis = opts.redis, node = node, ttl = opts.ttl, log = opts.log,
        history_idle = opts.history_idle,
    })
    if not cluster then
        return nil, err
    end
    self._cluster = cluster
    self.node = node
    return self
end

--- Leaves the cluster: the other nodes drop this node's members at once.
function Hub:leave_cluster()
    if self._cluster then
        self._cluster:close()
        self._cluster = nil
    end
end

--- Counters of the Redis link, or nil without a cluster:
-- { connected, synced (the other nodes' presence is read: counts cover
--   the cluster), node, published, received, lost, presence_deferred,
--   outages, dead_nodes, bad_messages, nodes, channels, history_gaps,
--   unnumbered, local_sent, local_received, local_lost, by_channel };
-- local_* count the messages between sibling workers, which skip Redis
-- (docs/cluster.md); by_channel[channel][node] is how many connections
-- that node has in that channel (this node included), as far as this
-- node knows.
function Hub:cluster_stats()
    return self._cluster and self._cluster:stats()
end

-- Phoenix-style presence (docs/protocols.md#presence-frames).  One meta per (conn, topic),
-- each with a unique phx_ref; keys are the app's presence keys (user ids).
-- Changes are broadcast to the topic as "presence_diff"; joiners get a
-- "presence_state" snapshot (server.lua pushes it after every join).  In a
-- cluster every meta is also shared with the other nodes (cluster_phx.c),
-- so presence_state covers the whole cluster.

-- Tells the cluster about a meta of this node (m nil: it is gone).
local function share(self, topic, ref, key, m)
    local cluster = self._cluster
    if not cluster then
        return
    end
    if m then
        cluster:phx_track(topic, ref, key, json.encode(m))
    else
        cluster:phx_untrack(topic, ref)
    end
end

local function new_ref(self)
    self.ref_seq = self.ref_seq + 1
    -- in a cluster the node name keeps refs unique across nodes (clients
    -- merge metas by phx_ref)
    return ("%s%.0f.%d"):format(self.node and self.node .. "." or "", core.now_ms(), self.ref_seq)
end

local function copy(t)
    local c = {}
    for k, v in pairs(t) do
        c[k] = v
    end
    return c
end

local function entry(meta)
    return { metas = { meta } }
end

-- presence_diffs per topic and loop turn that go out one by one; the rest
-- of the turn's go out merged into one at the start of the next turn, so
-- that a storm of joins costs each subscriber at most DIFF_BUDGET + 1
-- pushes per turn instead of one per joiner (docs/phoenix.md)
local DIFF_BUDGET = 16

-- Appends the metas of src's keys to dst's.
local function merge_metas(dst, src)
    for key, e in pairs(src) do
        local d = dst[key]
        if not d then
            d = { metas = {} }
            dst[key] = d
        end
        for _, m in ipairs(e.metas) do
            d.metas[#d.metas + 1] = m
        end
    end
end

local function flush_diffs(self)
    local st = self._diffs
    self._diffs = nil
    for topic, d in pairs(st.batch) do
        self:publish(topic, "presence_diff", d)
    end
end

local function diff(self, topic, joins, leaves)
    local st = self._diffs
    if self._loop then
        if not st then
            st = { count = {}, batch = {} }
            self._diffs = st
            self._loop:timer(0, 0, function() flush_diffs(self) end)
        end
        local n = (st.count[topic] or 0) + 1
        st.count[topic] = n
        if n > DIFF_BUDGET then
            local b = st.batch[topic]
            if not b then
                b = { joins = {}, leaves = {} }
                st.batch[topic] = b
            end
            merge_metas(b.joins, joins)
            merge_metas(b.leaves, leaves)
            return
        end
    end
    -- cjson writes an empty table as {}, so both keys are always objects
    self:publish(topic, "presence_diff", { joins = joins, leaves = leaves })
end

--- Tracks conn under presence key `key` in topic with a meta table (copied;
-- phx_ref added).  Returns the phx_ref, or nil, err when conn is already
-- tracked in topic.  Broadcasts a presence_diff join.
function Hub:track(conn, topic, key, meta)
    check_conn("track", conn)
    check_type("track", "topic", topic, "string")
    key = member_arg("track", key)
    if meta == nil then
        meta = {}
    end
    check_type("track", "meta", meta, "table")
    local mine = self.tracked[conn]
    if mine and mine[topic] then
        return nil, "already tracked", "EJOINED"
    end
    local m = copy(meta)
    m.phx_ref = new_ref(self)
    local keys = self.metas[topic] or {}
    self.metas[topic] = keys
    local list = keys[key] or {}
    keys[key] = list
    list[#list + 1] = { conn = conn, meta = m }
    mine = mine or {}
    self.tracked[conn] = mine
    mine[topic] = key
    share(self, topic, m.phx_ref, key, m)
    diff(self, topic, { [key] = entry(m) }, {})
    return m.phx_ref
end

-- Removes conn's entry in topic; returns key, meta (or nil).
local function remove(self, conn, topic)
    local mine = self.tracked[conn]
    local key = mine and mine[topic]
    if not key then
        return nil
    end
    mine[topic] = nil
    if next(mine) == nil then
        self.tracked[conn] = nil
    end
    local keys = self.metas[topic]
    local list = keys[key]
    local meta
    for i = #list, 1, -1 do
        if list[i].conn == conn then
            meta = table.remove(list, i).meta
        end
    end
    if #list == 0 then
        keys[key] = nil
        if next(keys) == nil then
            self.metas[topic] = nil
        end
    end
    return key, meta
end

--- Stops tracking conn in topic; broadcasts a presence_diff leave.
-- Returns true if it was tracked.
function Hub:untrack(conn, topic)
    check_conn("untrack", conn)
    check_type("untrack", "topic", topic, "string")
    local key, meta = remove(self, conn, topic)
    if not key then
        return false
    end
    share(self, topic, meta.phx_ref)
    diff(self, topic, {}, { [key] = entry(meta) })
    return true
end

--- Replaces conn's meta in topic: the new meta gets a new phx_ref and
-- phx_ref_prev = the old one; one presence_diff carries the new meta as a
-- join and the old as a leave.  Returns the new phx_ref or nil, err.
function Hub:update(conn, topic, meta)
    check_conn("update", conn)
    check_type("update", "topic", topic, "string")
    check_type("update", "meta", meta, "table")
    local mine = self.tracked[conn]
    local key = mine and mine[topic]
    if not key then
        return nil, "not tracked", "ENOTFOUND"
    end
    for _, e in ipairs(self.metas[topic][key]) do
        if e.conn == conn then
            local old = e.meta
            local m = copy(meta)
            m.phx_ref = new_ref(self)
            m.phx_ref_prev = old.phx_ref
            e.meta = m
            share(self, topic, old.phx_ref)
            share(self, topic, m.phx_ref, key, m)
            diff(self, topic, { [key] = entry(m) }, { [key] = entry(old) })
            return m.phx_ref
        end
    end
    return nil, "not tracked", "ENOTFOUND"
end

--- The topic's presences in the Phoenix wire shape:
-- { key = { metas = { meta, ... } }, ... } (metas in tracking order; in a
-- cluster, this node's first, then those of the others).
function Hub:presence_state(topic)
    check_type("presence_state", "topic", topic, "string")
    local state = {}
    for key, list in pairs(self.metas[topic] or {}) do
        local metas = {}
        for i, e in ipairs(list) do
            metas[i] = e.meta
        end
        state[key] = { metas = metas }
    end
    local remote = self._cluster and self._cluster:phx_metas(topic) or {}
    for i = 1, #remote, 2 do
        local key, meta = remote[i], json.decode(remote[i + 1])
        if type(meta) == "table" then
            state[key] = state[key] or { metas = {} }
            local metas = state[key].metas
            metas[#metas + 1] = meta
        end
    end
    return state
end

function Hub:__tostring()
    return "switchboard.Hub (" .. tostring(self.core) .. ")"
end

return M
