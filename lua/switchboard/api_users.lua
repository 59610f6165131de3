--- switchboard.api_users: what the server API does to a user's
-- connections (docs/api.md#users).  A broadcast goes through the hub
-- (hub:deliver), which reaches the member on every node by itself.
-- disconnect, subscribe and unsubscribe act on connections, which only
-- their own node holds: the node a call reaches acts on its connections
-- and sends the others a note (cluster notes, csrc/cluster/cluster.h),
-- and each acts on its own and answers with its counts in a note back
-- (M.gather adds them up).  Internal: used by switchboard.api and, on
-- every server, by server.lua (a node without an API still acts on the
-- notes of one that has it).
local json = require "switchboard.json"

local M = {}

-- Notes carry this marker, so that other kinds of notes pass by.
local NOTE_VERSION = 1

-- The local connections op names (op.user: by member id, op.connection:
-- by uid), on every server of the hub; a list, because acting on them
-- changes the servers' tables.
local function targets(hub, op)
    local list = {}
    for srv in pairs(rawget(hub, "_api_servers") or {}) do
        srv:_adopt()   -- connections without a Lua object get theirs
        for _, conn in pairs(srv._conns) do
            if (op.user ~= nil and conn.member == op.user)
                or (op.connection ~= nil and conn.uid == op.connection) then
                list[#list + 1] = conn
            end
        end
    end
    return list
end

local function joined(conn, channel)
    for _, t in ipairs(conn:topics()) do
        if t == channel then
            return true
        end
    end
    return false
end

-- A Phoenix socket subscribed from the server: a hub connection of its
-- own, joined to the channel as the socket's member, that writes each
-- message to the socket as the broadcast of a joined topic would look
-- (docs/protocols.md#v2-array-frames; V1 sockets get the object form).
-- The client hears it through socket.onMessage, or a channel object it
-- made for the topic (joined or not).
local function relay(hub, conn, channel)
    local v1 = rawget(conn, "_phx_v1")
    local sub = hub.core:attach(function(ch, event, text, info)
        if info.binary or not conn:alive() then
            return
        end
        -- Phoenix payloads are objects; the hub wraps others the same way
        local payload = text:sub(1, 1) == "{" and text or ('{"message":' .. text .. "}")
        local frame
        if v1 then
            frame = ('{"topic":%s,"event":%s,"payload":%s,"ref":null,"join_ref":null}')
                :format(json.encode(ch), json.encode(event), payload)
        else
            frame = ("[null,null,%s,%s,%s]"):format(json.encode(ch), json.encode(event), payload)
        end
        conn._h:send(frame)
    end)
    local ok, err = hub:join(channel, conn.member, sub)
    if ok == nil then
        sub:close()
        return nil, err
    end
    local subs = rawget(conn, "_api_subs") or {}
    subs[channel] = sub
    rawset(conn, "_api_subs", subs)
    return true
end

local LOCAL = {}

function LOCAL.disconnect(hub, op)
    local n = 0
    for _, conn in ipairs(targets(hub, op)) do
        if conn:alive() then
            conn:close(op.code, op.reason)
            n = n + 1
        end
    end
    return { disconnected = n }
end

function LOCAL.subscribe(hub, op)
    local r = { subscribed = 0, already = 0, skipped = 0 }
    for _, conn in ipairs(targets(hub, op)) do
        local subs = rawget(conn, "_api_subs")
        if not conn:alive() then
            r.skipped = r.skipped + 1
        elseif conn.protocol ~= "phoenix" then
            -- one channel per URL, and frames that name none: a second
            -- channel's messages would be indistinguishable from its own
            local key = conn.channel == op.channel and "already" or "skipped"
            r[key] = r[key] + 1
        elseif (subs and subs[op.channel]) or joined(conn, op.channel) then
            r.already = r.already + 1
        elseif relay(hub, conn, op.channel) then
            r.subscribed = r.subscribed + 1
        else
            r.skipped = r.skipped + 1
        end
    end
    return r
end

function LOCAL.unsubscribe(hub, op)
    local n = 0
    for _, conn in ipairs(targets(hub, op)) do
        local subs = rawget(conn, "_api_subs")
        if subs and subs[op.channel] then
            subs[op.channel]:close()
            subs[op.channel] = nil
            n = n + 1
        elseif conn.protocol == "phoenix" and joined(conn, op.channel) then
            conn:kick(op.channel)          -- phx_close: the client does not rejoin
            n = n + 1
        elseif conn.protocol ~= "phoenix" and conn.channel == op.channel and conn:alive() then
            conn:close(1000, "unsubscribed")   -- its only channel
            n = n + 1
        end
    end
    return { unsubscribed = n }
end

--- Runs op ({ op = "disconnect" | "subscribe" | "unsubscribe", user | connection,
-- channel, code, reason }) on this node's connections (a node without a
-- cluster: see M.gather for one with).  Returns its counts, or nil, err
-- for a connection uid that nobody has.
function M.run(hub, op)
    local found = #targets(hub, op) > 0
    local result = LOCAL[op.op](hub, op)
    if op.connection ~= nil and not found then
        return nil, { 404, "not_found", ("no connection has the uid %q"):format(op.connection) }
    end
    return result
end

-- Adds a node's counts into the total (numbers only: a reply is data
-- from another node).
local function add_counts(total, counts)
    for k, v in pairs(type(counts) == "table" and counts or {}) do
        if k ~= "nodes" and type(total[k]) == "number" and type(v) == "number" then
            total[k] = total[k] + v
        end
    end
end

--- In a cluster: runs op here, sends it to the other nodes in a note
-- that asks for their counts, and calls done(result) with the total once
-- every live node answered, or at the deadline (`wait` seconds on
-- `loop`) with "partial": true.  result.nodes: how many other nodes
-- answered (0 while Redis is unreachable: the call reached this node
-- only).  done may run before gather returns.
function M.gather(hub, op, loop, wait, done)
    local cluster = rawget(hub, "_cluster")
    local result = LOCAL[op.op](hub, op)
    local asks = rawget(hub, "_api_asks")
    if not asks then
        asks = { last = 0 }
        rawset(hub, "_api_asks", asks)
    end
    asks.last = asks.last + 1
    local id = asks.last
    local note = { api = NOTE_VERSION, ask = id }
    for k, v in pairs(op) do
        note[k] = v
    end
    local expected = cluster:send_note(json.encode(note)) and cluster:stats().nodes or 0
    result.nodes = 0
    if expected == 0 then
        return done(result)
    end
    local ask = { expected = expected }
    function ask.finish(partial)
        asks[id] = nil
        ask.timer:cancel()
        result.partial = partial or nil
        done(result)
    end
    function ask.add(counts)
        add_counts(result, counts)
        result.nodes = result.nodes + 1
        if result.nodes >= ask.expected then
            ask.finish(false)
        end
    end
    ask.timer = loop:timer(wait, 0, function()
        if asks[id] then
            ask.finish(true)
        end
    end)
    asks[id] = ask
end

-- A reply to one of this node's asks: { api, op = "counts", ask, to, counts }.
local function on_counts(hub, op)
    local cluster = rawget(hub, "_cluster")
    local asks = rawget(hub, "_api_asks")
    local ask = asks and type(op.ask) == "number" and asks[op.ask]
    if ask and cluster and op.to == cluster:stats().node then
        ask.add(op.counts)
    end
end

-- A note from another node: the same op on this node's connections.
-- Redis is trusted, but a note of another version may hold anything.
local function on_note(hub, text, node)
    local op = json.decode(text)
    if type(op) == "table" and op.api == NOTE_VERSION and op.op == "counts" then
        return on_counts(hub, op)
    end
    if type(op) ~= "table" or op.api ~= NOTE_VERSION or not LOCAL[op.op] then
        return
    end
    for _, k in ipairs({ "user", "connection", "channel", "reason" }) do
        if op[k] ~= nil and type(op[k]) ~= "string" then
            return
        end
    end
    if (op.op ~= "disconnect" and op.channel == nil) or (op.user == nil and op.connection == nil)
        or (op.code ~= nil and type(op.code) ~= "number") then
        return
    end
    local counts = LOCAL[op.op](hub, op)
    local cluster = rawget(hub, "_cluster")
    if op.ask ~= nil and cluster then
        -- the asking node adds these up (every node hears the note; only
        -- `to` takes it)
        cluster:send_note(json.encode({ api = NOTE_VERSION, op = "counts", ask = op.ask,
            to = node, counts = counts }))
    end
end

--- broadcast: one message to the member's connections in `channel`, or
-- in every channel the member is present in (a Phoenix socket joined to
-- several gets it once per topic; a native or SSE connection has one).
-- Returns { delivered = connections of this node, channels = how many,
-- forwarded = true when other nodes have the member too }.
function M.broadcast(hub, user, channel, event, data)
    local list = {}
    if channel then
        list[1] = channel
    else
        for _, c in ipairs(hub:channels()) do
            if hub:is_present(c.name, user) then
                list[#list + 1] = c.name
            end
        end
    end
    local delivered, forwarded = 0, false
    for _, ch in ipairs(list) do
        local n, fwd = assert(hub:deliver(ch, user, event, data))
        delivered = delivered + n
        forwarded = forwarded or fwd
    end
    return { delivered = delivered, channels = #list, forwarded = forwarded }
end

--- Makes a server's connections reachable by the user operations, and
-- (once per hub) has the hub's cluster, if it has one, hand the notes of
-- other nodes to them.  A server-side subscription ends with its socket.
function M.attach(server)
    local hub = server.hub
    local set = rawget(hub, "_api_servers")
    if not set then
        set = setmetatable({}, { __mode = "k" })
        rawset(hub, "_api_servers", set)
    end
    set[server] = true
    M.follow_cluster(hub)
end

--- Ends the server-side subscriptions of a connection that closed (called
-- by server.lua's close hook, not a close listener: a listener would give
-- every connection a Lua object, and only those that have one can have
-- subscriptions).
function M.closed(conn)
    for _, sub in pairs(rawget(conn, "_api_subs") or {}) do
        sub:close()
    end
    rawset(conn, "_api_subs", nil)
end

--- Hears the notes of the hub's cluster (once per cluster; the hub may
-- have joined one after its servers were made).
function M.follow_cluster(hub)
    local cluster = rawget(hub, "_cluster")
    if cluster and rawget(hub, "_api_notes") ~= cluster then
        rawset(hub, "_api_notes", cluster)
        cluster:on_note(function(text, node) on_note(hub, text, node) end)
    end
end

return M
