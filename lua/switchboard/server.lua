--- A switchboard server: one port, every protocol (see README "URLs").
-- The C core accepts connections, relays messages and fans out; this module
-- holds the app's hooks and channel handlers and wraps each connection in
-- a small object (`conn`) that the hub and the handlers see.
local core = require "switchboard.core"
local hubmod = require "switchboard.hub"
local json = require "switchboard.json"

local M = {}

local Server = {}
Server.__index = Server
Server.__name = "switchboard.server"

local Conn = {}
Conn.__index = Conn
Conn.__name = "switchboard.conn"

local SERVER_EVENTS = { connect = true, open = true, close = true }

--- Sends a message to this one connection, as the server.  On native
-- connections it arrives as a message envelope from uid "server" (or
-- `event` given: {"type":event,"message":payload}).
function Conn:send(payload, event)
    local h = self._h
    if not h:alive() then
        return nil, "closed"
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

function Conn:alive()
    return self._h:alive()
end

function Conn:__tostring()
    return ("switchboard.conn(%s %s)"):format(self.protocol or "?", self.uid or self.id)
end

local function check_opts(opts)
    if opts == nil then
        opts = {}
    end
    if type(opts) ~= "table" then
        error("switchboard.listen: options must be a table", 3)
    end
    if opts.port ~= nil and (type(opts.port) ~= "number" or opts.port < 0 or opts.port > 65535) then
        error("switchboard.listen: port must be a number 0..65535 (0 picks a free port)", 3)
    end
    if opts.static ~= nil and type(opts.static) ~= "string" then
        error("switchboard.listen: static must be a directory path", 3)
    end
    return opts
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
    if type(handlers) ~= "table" then
        error("server:channel: handlers must be a table", 2)
    end
    if handlers.on ~= nil and type(handlers.on) ~= "table" then
        error("server:channel: handlers.on must be a table of event = function", 2)
    end
    self._handlers[pattern] = handlers
    return self
end

--- server:on("connect" | "open" | "close", fn).  A connect listener gets
-- (conn, req) and may return false, reason [, http_status] to refuse.
function Server:on(event, fn)
    if not SERVER_EVENTS[event] then
        error("server:on: unknown event '" .. tostring(event) .. "' (connect, open, close)", 2)
    end
    if type(fn) ~= "function" then
        error("server:on: listener must be a function", 2)
    end
    local list = self._listeners[event]
    list[#list + 1] = fn
    return self
end

function Server:close()
    if self._own_cluster then
        self.hub:leave_cluster()
        self._own_cluster = nil
    end
    if self._srv then
        self._srv:close()
    end
end

--- Counters of the Redis link (see hub:cluster_stats), or nil.
function Server:cluster_stats()
    return self.hub:cluster_stats()
end

function Server:url(path)
    return ("ws://%s:%d%s"):format(self.host, self.port, path or "")
end

-- connect hook: builds the conn object, asks the app, binds it to the hub.
local function on_connect(self, handle, req)
    local info = handle:info()
    local conn = setmetatable({
        _h = handle, id = info.id, uid = info.uid, member = info.member,
        alias = info.alias, channel = info.channel, protocol = info.protocol,
        echo = info.echo, announce = info.announce, assigns = {}, server = self,
    }, Conn)
    for _, fn in ipairs(self._listeners.connect) do
        local ok, reason, status = fn(conn, req)
        if ok == false then
            return false, reason or "refused", status or 403
        end
    end
    local handler = conn.channel and self:handler_for(conn.channel)
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
    if conn.member ~= info.member then
        handle:set("member", conn.member)
    end
    if conn.alias ~= info.alias and conn.alias ~= nil then
        handle:set("alias", conn.alias)
    end
    handle:bind(self.hub.core, conn)
    self._conns[handle] = conn
    return true
end

-- A native message on a channel with handlers: route by message.type, or
-- "message".  A handler returning false keeps the message from the relay.
local function on_message(self, handle, data)
    local conn = self._conns[handle]
    local handler = conn and conn._handler
    if not handler or data:byte(1) == 31 or data:sub(1, 2) == "@@" then
        return true
    end
    local msg = json.decode(data)
    local on = handler.on
    local fn = type(msg) == "table" and type(msg.type) == "string" and on[msg.type] or on.message
    if not fn then
        return true
    end
    return fn(conn, conn.channel, msg) ~= false
end

local function on_close(self, handle, code)
    local conn = self._conns[handle]
    if not conn then
        return
    end
    local handler = conn.channel and self:handler_for(conn.channel)
    if handler and handler.leave then
        handler.leave(conn, conn.channel)
    end
    for _, fn in ipairs(self._listeners.close) do
        fn(conn, code)
    end
    handle:unbind(self.hub.core)
    self._conns[handle] = nil
end

--- sb.listen{ host = "127.0.0.1", port = 8080, static = dir, hub = hub,
-- history = n, max_message = bytes, max_queue = bytes,
-- redis = "redis://HOST:PORT/DB", node = name, node_ttl = s, redis_log = fn }
function M.listen(loop, opts)
    opts = check_opts(opts)
    local self = setmetatable({
        host = opts.host or "127.0.0.1",
        _handlers = {}, _conns = {},
        _listeners = { connect = {}, open = {}, close = {} },
    }, Server)
    self.hub = opts.hub or hubmod.new({ history = opts.history, typing_ttl = opts.typing_ttl })
    local hooks = {
        connect = function(handle, req) return on_connect(self, handle, req) end,
        open = function(handle)
            local conn = self._conns[handle]
            for _, fn in ipairs(self._listeners.open) do
                fn(conn)
            end
        end,
        message = function(handle, data) return on_message(self, handle, data) end,
        close = function(handle, code) return on_close(self, handle, code) end,
    }
    local srv, err = core.listen(loop, self.hub.core, {
        host = self.host, port = opts.port or 8080, static = opts.static,
        max_message = opts.max_message, max_queue = opts.max_queue,
    }, hooks)
    if not srv then
        return nil, err
    end
    self._srv = srv
    self.port = srv:port()
    if opts.redis ~= nil then
        local ok, cerr = self.hub:join_cluster({
            redis = opts.redis, node = opts.node, ttl = opts.node_ttl, log = opts.redis_log,
        }, loop)
        if not ok then
            srv:close()
            return nil, cerr
        end
        self._own_cluster = true
        self.node = self.hub.node
    end
    return self
end

return M
