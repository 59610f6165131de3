--- A switchboard server: one port, every protocol (README "Server").
-- The C core accepts connections, relays messages and fans out; this module
-- holds the app's hooks and channel handlers and wraps each connection in
-- a small object (`conn`) that the hub and the handlers see.
-- @module switchboard.server
local core = require "switchboard.core"
local apimod = require "switchboard.api"
local api_users = require "switchboard.api_users"
local pusher_api = require "switchboard.pusher_api"
local hubmod = require "switchboard.hub"
local json = require "switchboard.json"
local limitsmod = require "switchboard.limits"
local optionsmod = require "switchboard.options"
local pushermod = require "switchboard.pusher"
local rulesmod = require "switchboard.channel_rules"
local util = require "switchboard.util"
local webhooks = require "switchboard.webhooks"

local M = {}

local Server = util.class("switchboard.server")

local Conn = {}
Conn.__name = "switchboard.conn"

-- Made on first use, so that an idle connection's Lua object stays small
-- (8 fields: one 8-slot hash).  A server holds one per connection; at 10k
-- connections the eager version cost ~370 bytes more each.
local LAZY = {
    assigns = function() return {} end,
    _topics = function() return {} end,
    _send_keys = function() return {} end,   -- Phoenix topic -> sendKey
    echo = function(self) local i = self._h:info() return i and i.echo end,
    announce = function(self) local i = self._h:info() return i and i.announce end,
    binary = function(self) local i = self._h:info() return i and i.binary end,
}

function Conn.__index(self, k)
    local m = Conn[k]
    if m ~= nil then
        return m
    end
    local make = LAZY[k]
    if make then
        local v = make(self)
        rawset(self, k, v)
        return v
    end
end

local SERVER_EVENTS = { connect = true, open = true, close = true, publish = true, webhook = true }

--- Sends a message to this one connection, as the server.  On native
-- connections it arrives as a message envelope from uid "server" (or
-- `event` given: {"type":event,"message":payload}).
function Conn:send(payload, event)
    local h = self._h
    if not h:alive() then
        return nil, "closed"
    end
    if self.protocol == "phoenix" then
        -- a native envelope would break a Phoenix client (docs/protocols.md#v2-array-frames)
        return nil, "use conn:push(topic, event, payload) on Phoenix connections"
    end
    if self.protocol == "sse" then
        -- a stream gets one SSE event: data = the payload's JSON
        return h:send(json.encode(payload == nil and json.null or payload), event)
    end
    if self.protocol == "pusher" then
        return h:send(pushermod.frame(payload, event))
    end
    local frame
    if event == nil or event == "message" then
        frame = json.encode({ uid = "server", date = core.now_ms(), message = payload })
    else
        frame = json.encode({ type = event, message = payload, date = core.now_ms() })
    end
    return h:send(frame)
end

--- Closes the connection after what is queued has been sent.
function Conn:close(code, reason)
    self._h:close(code or 1000, reason or "")
end

-- JSON text of a Lua table for a Phoenix payload: always an object.
local function encode_object(v)
    if v == nil or (type(v) == "table" and next(v) == nil) then
        return "{}"
    end
    return json.encode(v)
end

--- Pushes an event to this Phoenix connection on a joined topic, carrying
-- that join's join_ref.  A string payload goes out as a binary frame; a
-- table as JSON.  Inside (or right after) a join it is sent after the
-- join reply.
function Conn:push(topic, event, payload)
    if self.protocol ~= "phoenix" then
        return nil, "conn:push is for Phoenix connections (use conn:send)"
    end
    if type(topic) ~= "string" or type(event) ~= "string" then
        error("conn:push: topic and event must be strings", 2)
    end
    if type(payload) == "string" then
        return self._h:push(topic, event, payload, true)
    end
    return self._h:push(topic, event, encode_object(payload), false)
end

--- Ends a joined Phoenix topic from the server: the channel's leave
-- handler runs and the client gets phx_close (no rejoin), or phx_error
-- when `error` is true (the client rejoins).
function Conn:kick(topic, error_)
    if self.protocol ~= "phoenix" then
        return nil, "conn:kick is for Phoenix connections"
    end
    return self._h:end_topic(topic, error_ and true or false)
end

--- Topics this Phoenix connection has joined (channels a Pusher
-- connection subscribed to).
function Conn:topics()
    if self.protocol ~= "phoenix" and self.protocol ~= "pusher" then
        return { self.channel }
    end
    return self._h:topics()
end

--- True until the connection has closed.
function Conn:alive()
    return self._h:alive()
end

function Conn:__tostring()
    return ("switchboard.conn(%s %s)"):format(self.protocol or "?", self.uid or self.id)
end

-- The conn object of a handle, from what C knows of the connection.
local function new_conn(self, handle, info)
    return setmetatable({
        _h = handle, id = info.id, uid = info.uid, member = info.member,
        alias = info.alias, channel = info.channel, protocol = info.protocol,
        transport = info.transport, server = self,
    }, Conn)
end

local function check_opts(opts)
    if opts == nil then
        opts = {}
    end
    optionsmod.check("switchboard.listen", optionsmod.schemas.listen, opts, 3)
    return opts
end

-- sse = { keepalive = s, retry = ms | false, cors = "*" | { origin, ... },
-- max_body = bytes }, flattened for the C core (check_opts checked it).
local function sse_opts(sse)
    if sse == nil then
        return {}
    end
    local cors = sse.cors
    if type(cors) == "table" then
        cors = table.concat(cors, " ")
    end
    local retry = sse.retry
    if retry then
        retry = math.floor(retry)
    end
    return { keepalive = sse.keepalive, retry = retry, cors = cors, max_body = sse.max_body }
end

-- longpoll = false | { window = s, timeout = s, max_body = bytes }, for
-- the C core: false stays false, a table is flattened (check_opts checked it).
local function longpoll_opts(lp)
    if lp == false then
        return { enabled = false }
    elseif type(lp) ~= "table" then
        return {}
    end
    return { window = lp.window, timeout = lp.timeout, max_body = lp.max_body }
end

--- Channel handler matching a topic: exact names first, then the longest
-- `prefix*` pattern (Phoenix style).
function Server:handler_for(topic)
    local exact = self._handlers[topic]
    if exact then
        return exact
    end
    local best, best_len = nil, -1
    for pattern, h in pairs(self._handlers) do
        if pattern:sub(-1) == "*" then
            local prefix = pattern:sub(1, -2)
            if #prefix > best_len and topic:sub(1, #prefix) == prefix then
                best, best_len = h, #prefix
            end
        end
    end
    return best
end

--- Registers handlers for topics matching `pattern` ("room:*" or exact):
-- { join = fn(conn, topic, params) -> reply | nil, reason,
--   leave = fn(conn, topic), on = { event = fn(conn, topic, payload) } }
function Server:channel(pattern, handlers)
    if type(pattern) ~= "string" or pattern == "" then
        error("server:channel: pattern must be a non-empty string", 2)
    end
    optionsmod.check(("server:channel(%q)"):format(pattern), optionsmod.schemas.handlers,
        handlers, 2, "handler", "handlers")
    self._handlers[pattern] = handlers
    self:_relazy()
    return self
end

--- server:on("connect" | "open" | "close" | "publish" | "webhook", fn).  A
-- connect listener gets (conn, req) and may return false, reason [,
-- http_status] to refuse.  A publish listener (POST /sse/<channel>) gets
-- (req, channel, event, payload) and may refuse the same way (default
-- status 403).  A webhook listener gets each webhook event (a table,
-- docs/webhooks.md) before it is queued and returns false to drop it, a
-- table to send instead, or nothing to send it (changed or not).
function Server:on(event, fn)
    if not SERVER_EVENTS[event] then
        error("server:on: unknown event '" .. tostring(event)
            .. "' (connect, open, close, publish, webhook)", 2)
    end
    if type(fn) ~= "function" then
        error("server:on: listener must be a function", 2)
    end
    local list = self._listeners[event]
    list[#list + 1] = fn
    self:_relazy()
    return self
end

-- Whether no Lua code needs the objects of this server's one-channel
-- connections (native, SSE): nothing that on_connect would do for them
-- (refuse, rename, mark as watcher, ask about messages) and no listener
-- that would be handed one.  Server-wide: a channel handler of any
-- pattern, or a rule of any channel that looks at clients, keeps every
-- connection in Lua (one cheap answer, rather than one per channel at
-- each connect).
local function lazy_ok(self)
    local l = self._listeners
    return not (self._origins or self._pusher or self._webhooks)
        and #l.connect == 0 and #l.open == 0 and #l.close == 0
        and next(self._handlers) == nil
        and not self._rules:per_connection()
        and not self.hub:_wants_conns()
end

-- Gives the connections C accepted without Lua their conn objects: the
-- ones on_connect would have built (the app had no say in them, so no
-- refusal, member or handler to apply), bound to the hub, in _conns.
function Server:_adopt()
    if not self._srv then
        return
    end
    for _, handle in ipairs(self._srv:adopt()) do
        local info = handle:info()
        if info then
            local conn = new_conn(self, handle, info)
            handle:bind(self.hub.core, conn)
            self._conns[handle] = conn
        end
    end
end

-- Tells C whether new connections may go without Lua (lazy_ok), each time
-- that may have changed (a listener, a channel handler, a hub listener);
-- when it may not, the connections that went without get their objects
-- now, so that what came later (a close listener, say) sees them too.
function Server:_relazy()
    if not self._srv then
        return
    end
    local lazy = lazy_ok(self)
    if lazy ~= self._lazy then
        self._lazy = lazy
        self._srv:set_lazy(lazy)
    end
    if not lazy then
        self:_adopt()
    end
end

--- Counters of this server's connections: { connections = n, objects = n },
-- the connections open now and how many of them have a Lua object.  A
-- native or SSE connection gets none while nothing in Lua would see it (no
-- connect, open or close listener, channel handler, client rule,
-- webhooks, origins check or Pusher, no hub listener handed connections);
-- it gets one when Lua asks (server:connections(), the server API acting
-- on users, a listener added later).
function Server:stats()
    if not self._srv then
        return { connections = 0, objects = 0 }
    end
    return self._srv:stats()
end

--- Stops listening and closes every connection: WebSockets with 1001
-- (native and Phoenix clients reconnect), SSE streams after what is queued.
-- With workers, worker 1's close stops the others; a server that joined a
-- cluster for itself leaves it (the other nodes drop its members at once).
function Server:close()
    if self.worker == 1 and self.workers > 1 then
        self._loop:signal_workers(15)   -- SIGTERM: closing the server closes them all
    end
    if self._own_cluster then
        self.hub:leave_cluster()
        self._own_cluster = nil
    end
    if self._webhooks then
        self._webhooks:close()
    end
    if self._srv then
        self._srv:close()
    end
end

--- Counters of the Redis link (see hub:cluster_stats), or nil.
function Server:cluster_stats()
    return self.hub:cluster_stats()
end

--- The connections this server holds now (conn objects), in no order.
-- Connections that had no Lua object yet (see Server:stats) get theirs.
function Server:connections()
    self:_adopt()
    local list = {}
    for _, conn in pairs(self._conns) do
        list[#list + 1] = conn
    end
    return list
end

--- The server's WebSocket URL for `path` ("ws://127.0.0.1:8080/c/room"),
-- with the bound host and port (`wss` with TLS).
function Server:url(path)
    return ("%s://%s:%d%s"):format(self.tls and "wss" or "ws", self.host, self.port, path or "")
end

-- A readable file, or nil and a message naming it (lws would only say
-- that the vhost could not be made).
local function check_readable(what, path)
    local f, err = io.open(path, "rb")
    if not f then
        return nil, ("switchboard.listen: cannot read TLS %s: %s"):format(what, err)
    end
    f:close()
    return true
end

-- Splits an origin "scheme://host[:port]" (or an allow-list entry, whose
-- scheme may be missing: "//host", "host") into its parts.
local function parse_origin(s)
    local scheme, rest = s:match("^(%a[%w+.-]*)://(.*)$")
    if not scheme then
        rest = s:match("^//(.*)$") or s
    end
    rest = rest:gsub("/.*$", "")
    local host, port = rest:match("^(.-):(%d+)$")
    return scheme and scheme:lower(), (host or rest):lower(), port
end

-- Phoenix's check_origin rules: the scheme and port must match when the
-- entry names them; "*.example.com" matches any subdomain.
local function origin_allowed(list, origin)
    local scheme, host, port = parse_origin(origin)
    for _, entry in ipairs(list) do
        local es, eh, ep = parse_origin(entry)
        local host_ok = eh == host
        if not host_ok and eh:sub(1, 2) == "*." then
            local suffix = eh:sub(2)
            host_ok = #host > #suffix and host:sub(-#suffix) == suffix
        end
        if host_ok and (not es or es == scheme) and (not ep or ep == port) then
            return true
        end
    end
    return false
end

-- An SSE stream names nobody when its URL carries no ?user=, ?alias= or
-- ?as= and the connect hook gave it no member (nil or the uid: the
-- default); on a channel with `watchers = true` it is a watcher
-- (docs/sse.md, "Watchers").
local function is_anonymous(conn, info, query)
    return conn.alias == nil and (conn.member == nil or conn.member == info.member)
        and (query == nil or query.user == nil)
end

-- On a server that speaks Pusher, private- and presence- channels are
-- signed for Pusher clients; the other protocols reach them only where a
-- server:channel join handler decides who may (docs/pusher.md#security).
-- Returns nil, or the reason to refuse.
local function guarded(self, channel, handler)
    if not self._pusher or type(channel) ~= "string" then
        return nil
    end
    if channel:sub(1, 8) ~= "private-" and channel:sub(1, 9) ~= "presence-" then
        return nil
    end
    if handler and handler.join then
        return nil
    end
    return ("channel %q is private: it needs a server:channel join handler "
        .. "for clients other than Pusher's"):format(channel)
end

-- connect hook: builds the conn object, asks the app, binds it to the hub.
local function on_connect(self, handle, req)
    local info = handle:info()
    local conn = new_conn(self, handle, info)
    if conn.protocol == "phoenix" then
        -- a V1 socket reads object frames, not arrays (switchboard.api_users
        -- writes some); Phoenix takes a missing vsn for 1.0.0
        local vsn = req.query and req.query.vsn or "1.0.0"
        conn._phx_v1 = vsn:sub(1, 2) == "1." or nil
    end
    -- a missing Origin (non-browser clients) is allowed, as in Phoenix
    local origin = req.headers and req.headers.origin
    if self._origins and origin and not origin_allowed(self._origins, origin) then
        return false, "origin not allowed", 403
    end
    for _, fn in ipairs(self._listeners.connect) do
        local ok, reason, status = fn(conn, req)
        if ok == false then
            return false, reason or "refused", status or 403
        end
    end
    if conn.member == hubmod.WATCHERS then
        -- most likely a name taken from the URL, like ?user=(watchers)
        return false, ("member id %q is reserved for watchers"):format(conn.member), 400
    end
    local watcher = conn.protocol == "sse" and self._rules:watchers(conn.channel)
        and is_anonymous(conn, info, req.query)
    conn.watcher = watcher or nil   -- the join handler sees it
    local handler = conn.channel and self:handler_for(conn.channel)
    local private = guarded(self, conn.channel, handler)
    if private then
        return false, private, 403
    end
    if handler and handler.join then
        local reply, reason = handler.join(conn, conn.channel, req.query)
        if not reply then
            return false, reason or "join refused", 403
        end
    end
    if handler and handler.on then
        conn._handler = handler
        handle:set("handled", true)
    end
    if conn.protocol == "native" and self._webhooks and self._webhooks:wants_client(conn.channel) then
        -- the webhooks hear this channel's client messages (on_message)
        conn._webhook_msgs = true
        handle:set("handled", true)
    end
    if conn.protocol == "native" then
        -- listen-only and send-key checks once, in C for every frame; a
        -- publish function is asked per message (on_message)
        local ok, why = self._rules:may_publish(conn.channel, req.query and req.query.sendKey)
        if not ok then
            handle:set("deny_publish", why)
        elseif self._rules:hook(conn.channel) then
            conn._ask_publish = true
            handle:set("handled", true)
        end
    end
    -- conn.member = nil (say, req.query.user of a client that sent none)
    -- keeps the default member id, the uid
    if conn.member == hubmod.WATCHERS then
        error(("join handler: conn.member %q is reserved for watchers"):format(conn.member), 0)
    elseif watcher and (conn.member == nil or conn.member == info.member) then
        -- a watcher: no member of its own (switchboard.hub hides this one)
        conn.member = nil
        handle:set("member", hubmod.WATCHERS)
    elseif conn.member == nil then
        conn.member = info.member
    elseif type(conn.member) ~= "string" then
        error("connect hook: conn.member must be a string, got " .. type(conn.member), 0)
    elseif conn.member ~= info.member then
        handle:set("member", conn.member)
    end
    if conn.member ~= nil then
        conn.watcher = nil   -- the join handler named it after all
    end
    if conn.alias ~= info.alias and conn.alias ~= nil then
        handle:set("alias", conn.alias)
    end
    handle:bind(self.hub.core, conn)
    self._conns[handle] = conn
    return true
end

-- A native message on a channel with a publish function or handlers: the
-- function may refuse it (the client gets an error event); then route by
-- message.type, or "message".  A handler returning false keeps the message
-- from the relay.  C hands over the message already decoded, and `to`, the
-- uid of a direct message (nil for a broadcast); direct messages go to no
-- handler.  A binary frame comes as its bytes with binary = true: it has no
-- type, so it goes to on.message, with a fourth argument { binary = true }
-- (a JSON string and the same bytes would look alike otherwise).
local function on_message(self, handle, msg, to, binary)
    local conn = self._conns[handle]
    if conn and conn._ask_publish then
        local ok, why = self._rules:ask(conn, conn.channel, msg,
            { protocol = "native", to = to, binary = binary or nil })
        if not ok then
            conn:send(why, "error")
            return false
        end
    end
    if conn and to == nil and rawget(conn, "_webhook_msgs") then
        local event = type(msg) == "table" and type(msg.type) == "string" and msg.type or "message"
        self._webhooks:client_message(conn, conn.channel, event, msg)
    end
    local handler = conn and conn._handler
    if not handler or to ~= nil then
        return true
    end
    local on = handler.on
    if binary then
        local fn = on.message
        return not fn or fn(conn, conn.channel, msg, { binary = true }) ~= false
    end
    local fn = type(msg) == "table" and type(msg.type) == "string" and on[msg.type] or on.message
    if not fn then
        return true
    end
    return fn(conn, conn.channel, msg) ~= false
end

-- POST /sse/<channel>: the channel's rules, then every publish listener,
-- may refuse.
local function on_publish(self, req, channel, event, payload)
    local private = not self._rules:hook(channel) and guarded(self, channel, self:handler_for(channel))
    if private then
        return false, private, 403
    end
    local allowed, why = self._rules:allow(nil, channel, req.query and req.query.sendKey, payload,
        { protocol = "sse", event = event, req = req })
    if not allowed then
        return false, why, 403
    end
    for _, fn in ipairs(self._listeners.publish) do
        local ok, reason, status = fn(req, channel, event, payload)
        if ok == false then
            return false, reason or "refused", status or 403
        end
    end
    return true
end

-- Phoenix join: find the channel by pattern and run its join.  params is
-- the join payload, decoded by C.  Returns "ok" | "error" | "unmatched" and
-- the reply's response as JSON.  A join that raises leaves nothing tracked
-- and is re-raised (C answers "join crashed" and reports the error).
local function on_phx_join(self, handle, topic, params)
    local conn = self._conns[handle]
    local handler = conn and self:handler_for(topic)
    if not handler then
        return "unmatched"
    end
    local private = guarded(self, topic, handler)
    if private then
        return "error", json.encode({ reason = private })
    end
    if type(params) ~= "table" then
        params = {}
    end
    local reply, reason = true, nil
    if handler.join then
        local ok
        ok, reply, reason = pcall(handler.join, conn, topic, params)
        if not ok then
            self.hub:untrack(conn, topic)
            error(reply, 0)
        end
    end
    if not reply then
        self.hub:untrack(conn, topic)
        return "error", json.encode({ reason = tostring(reason or "join refused") })
    end
    conn._topics[topic] = handler
    if type(params.sendKey) == "string" or rawget(conn, "_send_keys") then
        conn._send_keys[topic] = type(params.sendKey) == "string" and params.sendKey or nil
    end
    -- C holds pushes made now until the join reply is out, so this
    -- snapshot reaches the client after the reply (docs/protocols.md#presence-frames)
    if handler.presence ~= false then
        conn:push(topic, "presence_state", self.hub:presence_state(topic))
    end
    return "ok", encode_object(type(reply) == "table" and reply or nil)
end

-- A Phoenix event on a joined topic: handlers.on[event](conn, topic,
-- payload, info).  A table reply -> ok with it, true -> ok {}, a string
-- -> ok with a binary response, nil, err -> error {reason = err},
-- nothing -> no reply.  An event with no handler gets an error reply
-- {reason = "unhandled event"} so the client does not wait for a timeout.
-- value is the payload decoded by C, or the bytes of a binary push.
local function on_phx_event(self, handle, topic, event, value, binary)
    local conn = self._conns[handle]
    if conn then
        -- listen-only topics refuse every client event before its handler
        local keys = rawget(conn, "_send_keys")
        local ok, why = self._rules:allow(conn, topic, keys and keys[topic], value,
            { protocol = "phoenix", event = event, binary = binary })
        if not ok then
            return "error", json.encode({ reason = why })
        end
        if self._webhooks and not binary then
            self._webhooks:client_message(conn, topic, event, value)
        end
    end
    local handler = conn and (conn._topics[topic] or self:handler_for(topic))
    local fn = handler and handler.on and handler.on[event]
    if not fn then
        return "error", '{"reason":"unhandled event"}'
    end
    local reply, err = fn(conn, topic, value, { binary = binary, event = event })
    if reply == nil or reply == false then
        if err ~= nil then
            return "error", json.encode({ reason = tostring(err) })
        end
        return nil
    end
    if reply == true then
        return "ok", "{}"
    end
    if type(reply) == "string" then
        return "ok", reply, true
    end
    return "ok", encode_object(reply)
end

-- A Phoenix topic ended (leave, duplicate join, crash, kick, disconnect):
-- the app's leave handler, then the presence entry goes.
local function on_phx_leave(self, handle, topic, why)
    local conn = self._conns[handle]
    if not conn then
        return
    end
    local handler = conn._topics[topic]
    conn._topics[topic] = nil
    if rawget(conn, "_send_keys") then
        conn._send_keys[topic] = nil
    end
    if handler and handler.leave then
        local ok, err = pcall(handler.leave, conn, topic, why)
        self.hub:untrack(conn, topic)
        if not ok then
            error(err, 0)
        end
    else
        self.hub:untrack(conn, topic)
    end
end

local function on_close(self, handle, code)
    local conn = self._conns[handle]
    if not conn then
        return
    end
    -- the lazy fields read the handle, which is gone after this
    local _, _, _ = conn.echo, conn.announce, conn.binary
    local handler = conn.channel and self:handler_for(conn.channel)
    if handler and handler.leave then
        handler.leave(conn, conn.channel, "closed")
    end
    api_users.closed(conn)
    for _, fn in ipairs(self._listeners.close) do
        fn(conn, code)
    end
    handle:unbind(self.hub.core)
    self._conns[handle] = nil
end

-- Forks the workers when asked; returns this process's worker number and
-- its node name, or nil, err.
local function start_workers(loop, opts)
    local worker, node = 1, opts.node
    if opts.workers and opts.workers > 1 then
        -- one base for all: the workers know each other by it (siblings
        -- skip Redis for their messages, docs/cluster.md); "-w<i>" makes
        -- each name unique
        local base, werr = node or hubmod.default_node()
        worker, werr = loop:fork_workers(opts.workers)
        if not worker then
            return nil, "switchboard.listen: " .. werr
        end
        node = base .. "-w" .. worker
    end
    return worker, node
end

-- Up front, so that a bad path is an error naming it rather than a TLS
-- failure inside the core.
local function check_tls(tls)
    if not tls then
        return true
    end
    local ok, err = check_readable("cert", tls.cert)
    if ok then
        ok, err = check_readable("key", tls.key)
    end
    return ok, err
end

-- The server's hub (opts.hub or a new one on the server's loop, which
-- expires its typing and history) with the history rules set.
local function setup_hub(self, opts, lim, loop)
    local history, history_ttl, hrules = self._rules:history_options(opts.history, opts.history_ttl)
    self.hub = opts.hub or hubmod.new({ history = history, history_ttl = history_ttl,
        typing_ttl = opts.typing_ttl, max_channels = lim.max_channels }, loop)
    for _, r in ipairs(hrules or {}) do
        core.hub_set_history(self.hub.core, r[1], r[2], r[3])
    end
end

-- The functions the C server calls, each bound to this server.
local function core_hooks(self)
    return {
        connect = function(handle, req) return on_connect(self, handle, req) end,
        open = function(handle)
            local conn = self._conns[handle]
            for _, fn in ipairs(self._listeners.open) do
                fn(conn)
            end
        end,
        message = function(handle, msg, to, binary)
            return on_message(self, handle, msg, to, binary)
        end,
        close = function(handle, code) return on_close(self, handle, code) end,
        -- topic protocols: Phoenix, and Pusher's subscriptions
        join = function(handle, ...)
            local conn = self._conns[handle]
            if conn and conn.protocol == "pusher" then
                return pushermod.join(self, conn, ...)
            end
            return on_phx_join(self, handle, ...)
        end,
        event = function(handle, topic, event, value, binary)
            local conn = self._conns[handle]
            if conn and conn.protocol == "pusher" then
                return pushermod.event(self, conn, topic, event, value)
            end
            return on_phx_event(self, handle, topic, event, value, binary)
        end,
        leave = function(handle, ...)
            local conn = self._conns[handle]
            if conn and conn.protocol == "pusher" then
                return pushermod.leave(conn, ...)
            end
            return on_phx_leave(self, handle, ...)
        end,
        endpoint = function(req, body)
            if req.protocol == "pusher" and self._pusher and self._pusher.authorize then
                return pushermod.endpoint(self._pusher, req, body)
            end
            return 404, '{"error":"no such endpoint"}'
        end,
        publish = function(req, channel, event, payload)
            return on_publish(self, req, channel, event, payload)
        end,
        -- the C core routes API calls only when opts.api made self._api
        api_auth = function(method, key) return self._api:auth(method, key) end,
        api = function(method, key, body, ticket) return self._api:call(method, key, body, ticket) end,
        -- and Pusher API calls only when opts.pusher made self._pusher_api
        pusher_api = function(method, path, params, body)
            return self._pusher_api:call(method, path, params, body)
        end,
        metrics = function() return self._webhooks and self._webhooks:metrics() or "" end,
    }
end

-- The options of core.listen, from sb.listen's and the resolved limits.
local function core_options(self, opts, lim)
    local sse = sse_opts(opts.sse)
    local lp = longpoll_opts(opts.longpoll)
    local o = {
        host = self.host, port = opts.port or 8080, static = opts.static, tls = opts.tls,
        static_follow_links = opts.static_follow_links,
        max_message = lim.max_message, max_queue = lim.max_queue,
        max_connections = lim.max_connections, max_per_ip = lim.max_per_ip,
        max_connect_rate = lim.max_connect_rate, limit_loopback = lim.limit_loopback,
        max_rate = lim.max_rate, max_burst = lim.max_burst,
        phoenix = opts.phoenix, phoenix_max_channels = lim.max_channels,
        phoenix_timeout = lim.phoenix_timeout, presence_events = opts.presence_events,
        handshake_timeout = lim.handshake_timeout, max_header_bytes = lim.max_header_bytes,
        max_url = lim.max_url, ping_interval = lim.ping_interval, idle_timeout = lim.idle_timeout,
        sse_keepalive = sse.keepalive, sse_retry = sse.retry, sse_cors = sse.cors,
        sse_max_body = sse.max_body, reuse_port = (opts.workers or 1) > 1,
        compression = opts.compression,
        longpoll = lp.enabled, longpoll_window = lp.window,
        longpoll_timeout = lp.timeout, longpoll_max_body = lp.max_body,
        api_prefix = opts.api and (opts.api.prefix or "/api"),
        api_max_body = opts.api and opts.api.max_body,
        api_timeout = opts.api and opts.api.timeout,
        pusher_app_id = opts.pusher and tostring(opts.pusher.app_id),
        pusher_key = opts.pusher and opts.pusher.key,
        pusher_secret = opts.pusher and opts.pusher.secret,
    }
    for k, v in pairs(pushermod.core_options(opts.pusher)) do
        o[k] = v
    end
    return o
end

-- Joins the server's hub to the other nodes when opts.redis is set;
-- returns true, or nil, err.
local function join_cluster(self, opts, node, loop)
    if opts.redis == nil then
        return true
    end
    local ok, cerr = self.hub:join_cluster({
        redis = opts.redis, node = node, ttl = opts.node_ttl, log = opts.redis_log,
        history_idle = opts.redis_history_idle,
    }, loop)
    if not ok then
        return nil, cerr
    end
    self._own_cluster = true
    self.node = self.hub.node
    return true
end

--- sb.listen{ host = "127.0.0.1", port = 8080, static = dir, hub = hub,
-- static_follow_links = true (serve symlinks leading out of `static`; off:
--   404 for them),
-- history = n | { [pattern] = { count = n, ttl = s } }, history_ttl = s,
-- sse = { keepalive = s, retry = ms | false, cors = "*" | { origins }, max_body = bytes },
-- max_message = bytes, max_queue = bytes,
-- redis = "redis://HOST:PORT/DB", node = name, node_ttl = s, redis_log = fn,
-- redis_history_idle = s (shared history kept after its last message; 86400),
-- phoenix = { "/socket" } (mounts), origins = { "https://example.com", ... },
-- longpoll = { window = s, timeout = s, max_body = bytes } | false (Phoenix
--   LongPoll on <mount>/longpoll: how long a poll is held, how long a
--   session lives without one, the POST body limit; false: none),
-- max_channels = n (Phoenix topics per connection),
-- phoenix_timeout = s (without a frame before a Phoenix socket closes),
-- presence_events = false (native clients hear no joins/leaves of others),
-- compression = false (no permessage-deflate for clients that offer it; on by
--   default on plain ws:// listeners, docs/protocols.md),
-- max_connections = n, max_per_ip = n (over either: HTTP 503 at the handshake),
-- max_rate = n (messages/s per connection; false or 0: off), max_burst = n,
-- limits = { any of the limits above, and handshake_timeout = s, max_header_bytes = bytes,
--   max_url = bytes, ping_interval = s, idle_timeout = s } (switchboard.limits;
--   the defaults: core.defaults(), the README's "Defaults" table),
-- channels = { [pattern] = { publish = false | fn, send_key = s, history = n | {...} } }
--   (switchboard.channel_rules),
-- tls = { cert = "cert.pem", key = "key.pem" },
-- api = { keys = { [key] = true | { "publish", "presence", ... } }, prefix = "/api",
--   max_body = bytes, timeout = s } (the server API, docs/api.md; switchboard.api),
-- webhooks = { url = "https://...", secret = s, events =, channels =, client_messages =,
--   batch = s, max_batch = n, max_queue = n, retries = n, backoff =, timeout = s,
--   headers = {}, format = "switchboard" | "pusher" } or a list of such
--   (docs/webhooks.md; switchboard.webhooks),
-- pusher = { app_id =, key =, secret =, client_events = true, authorize = fn(req),
--   auth_path = "/pusher/auth", activity_timeout = s, auth_max_body = bytes }
--   (the Pusher Channels protocol 7 at /app/<key>, docs/pusher.md, switchboard.pusher;
--   and Pusher's HTTP API on /apps/<app_id>/..., docs/pusher-http.md, switchboard.pusher_api),
-- workers = n (n processes on one port via SO_REUSEPORT, sharing channels
--   through `redis`; the calling process is worker 1, server.worker says
--   which one this is; call it before any other server, client or timer) }
function M.listen(loop, opts)
    opts = check_opts(opts)
    util.apply_log(loop, opts.log, "switchboard.listen")
    local lim = limitsmod.resolve(opts)
    local rules = rulesmod.new(opts.channels)
    local worker, node = start_workers(loop, opts)
    if not worker then
        return nil, node
    end
    local ok, err = check_tls(opts.tls)
    if not ok then
        return nil, err
    end
    local self = setmetatable({
        host = opts.host or "127.0.0.1", tls = opts.tls ~= nil,
        worker = worker, workers = opts.workers or 1,
        _handlers = {}, _conns = {},
        _listeners = { connect = {}, open = {}, close = {}, publish = {}, webhook = {} },
        _rules = rules, _pusher = opts.pusher,
    }, Server)
    setup_hub(self, opts, lim, loop)
    self._api = opts.api and apimod.new(self, opts.api)
    self._pusher_api = opts.pusher and pusher_api.new(self, opts.pusher)
    api_users.attach(self)
    local hooks = core_hooks(self)
    self._origins = opts.origins
    local srv
    srv, err = core.listen(loop, self.hub.core, core_options(self, opts, lim), hooks)
    if not srv then
        return nil, err
    end
    self._srv = srv
    self._loop = loop
    self._webhooks = opts.webhooks and webhooks.new(self, opts.webhooks, self._listeners.webhook,
        opts.pusher)
    self.port = srv:port()
    -- what is bound, as a URL writes it: a name shows the addresses it
    -- resolved to, an IPv6 address its brackets
    self.addresses = srv:addresses()
    self.host = self.addresses[1] or self.host
    ok, err = join_cluster(self, opts, node, loop)
    if not ok then
        srv:close()
        return nil, err
    end
    api_users.follow_cluster(self.hub)
    if self._webhooks then
        self._webhooks:started(self)
    end
    self:_relazy()
    return self
end

return M
