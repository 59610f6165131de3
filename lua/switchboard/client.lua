--- The Lua client, in the shape of npm itty-sockets:
--   sb.connect(url, opts):on("message", fn):send(msg)
-- It opens lazily (on the first on/send/open), queues what is sent while
-- offline and flushes it in order on open, and reconnects after an
-- unexpected close with exponential backoff and jitter, keeping listeners
-- and the queue.
-- @module switchboard.client
local core = require "switchboard.core"
local json = require "switchboard.json"
local options = require "switchboard.options"
local util = require "switchboard.util"

local M = {}

local Client = util.class("switchboard.client")

-- Options that shape the client itself and are not sent to the server.
local LOCAL_OPTS = {
    reconnect = true, backoff = true, origin = true, insecure = true,
    query = true, max_queue = true, recover = true, since = true, log = true,
}

local DEFAULT_BACKOFF = { initial = 0.1, max = 10, factor = 2, jitter = 0.5 }

local urlencode = util.urlencode

--- Splits ws[s]://host[:port]/path?query; returns nil, err when malformed.
function M.parse_url(url)
    return util.split_url(url, "ws", "wss")
end

-- The query string itty-sockets would send: every option except ours.
local function query_of(opts)
    local keys = {}
    for k, v in pairs(opts) do
        if not LOCAL_OPTS[k] and type(k) == "string" and v ~= nil and v ~= false then
            keys[#keys + 1] = k
        end
    end
    for k, v in pairs(opts.query or {}) do
        keys[#keys + 1] = k
        opts[k] = opts[k] == nil and v or opts[k]
    end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do
        parts[#parts + 1] = urlencode(k) .. "=" .. urlencode(opts[k])
    end
    return table.concat(parts, "&")
end

--- sb.connect(url, { alias, announce, echo, list, reconnect = true,
--   backoff = { initial, max, factor, jitter }, origin, insecure, query,
--   recover, since })
-- recover = true: messages carry an `id`; a reconnect asks for what was
-- missed (since=<last id>) and gets it in order, or a "recovery-failed"
-- event whose message says why ({ reason, lastEventId, epoch, offset }).
-- since = "<epoch>-<offset>" (with recover): the first connect already
-- resumes from there (an id saved by an earlier client, on any node of a
-- cluster).
function M.connect(loop, url, opts)
    -- level 2 is the app: switchboard.connect tail-calls this
    if type(url) ~= "string" then
        error("switchboard.connect: url must be a string", 2)
    end
    opts = opts or {}
    options.check("switchboard.connect", options.schemas.connect, opts, 2)
    util.apply_log(loop, opts.log, "switchboard.connect")
    local target, err = M.parse_url(url)
    if not target then
        error("switchboard.connect: " .. err .. ": " .. url, 2)
    end
    local q = query_of(opts)
    if opts.recover then
        -- opt in to message ids; reconnects add since=<last id> (open)
        q = q .. (q ~= "" and "&" or "") .. "recover=true"
    end
    if q ~= "" then
        target.path = target.path .. (target.path:find("?", 1, true) and "&" or "?") .. q
    end
    target.base_path = target.path
    target.origin = opts.origin
    target.insecure = opts.insecure
    local backoff = {}
    for k, v in pairs(DEFAULT_BACKOFF) do
        backoff[k] = (opts.backoff or {})[k] or v
    end
    return setmetatable({
        url = url, _loop = loop, _target = target, _opts = opts,
        _listeners = {}, _filters = {}, _queue = {},
        _reconnect = opts.reconnect ~= false, _backoff = backoff, _attempt = 0,
        _state = "idle", _last_id = opts.since,
    }, Client)
end

local function emit(self, name, e)
    local list = self._listeners[name]
    if not list then
        return
    end
    local copy = {}
    for i, fn in ipairs(list) do
        copy[i] = fn
    end
    for _, fn in ipairs(copy) do
        fn(e, self)
    end
end

-- Routing as itty-sockets 0.6 does it: object messages are merged under the
-- envelope; listeners for the envelope's type, else the message's type;
-- untyped envelopes also go to "message"; filters see every event.
-- Recovery (opts.recover): remember the newest message id, or after a
-- recovery-failed the channel's current position, for the next reconnect.
local function track_position(self, s)
    if type(s.id) == "string" then
        self._last_id = s.id
    elseif s.type == "recovery-failed" and type(s.message) == "table"
        and type(s.message.epoch) == "number" and s.message.epoch > 0 then
        self._last_id = ("%.0f-%.0f"):format(s.message.epoch, s.message.offset or 0)
    end
end

local function dispatch(self, data)
    local s = json.decode(data)
    if type(s) ~= "table" then
        emit(self, "error", { message = "unreadable frame from server", data = data })
        return
    end
    if self._opts.recover then
        track_position(self, s)
    end
    local e = {}
    local m = s.message
    if type(m) == "table" and m[1] == nil then
        for k, v in pairs(m) do
            e[k] = v
        end
    end
    for k, v in pairs(s) do
        e[k] = v
    end
    if s.type ~= nil then
        emit(self, s.type, e)
    elseif type(m) == "table" and type(m.type) == "string" then
        emit(self, m.type, e)
    end
    if not s.type then
        emit(self, "message", e)
    end
    for _, f in ipairs(self._filters) do
        if f.test(e) then
            f.fn(e, self)
        end
    end
end

local function flush(self)
    while self._ws and self._ws:is_open() and #self._queue > 0 do
        local frame = table.remove(self._queue, 1)
        if not self._ws:send(frame) then
            table.insert(self._queue, 1, frame)
            return
        end
    end
    if self._push_close and #self._queue == 0 and self._ws then
        self._ws:close(1000, "")
    end
end

local function schedule_reconnect(self)
    local b = self._backoff
    local delay = math.min(b.max, b.initial * b.factor ^ self._attempt)
    delay = delay * (1 - b.jitter * math.random())
    self._attempt = self._attempt + 1
    self._state = "waiting"
    self._timer = self._loop:timer(delay, 0, function()
        self._timer = nil
        if self._state == "waiting" then
            self:open()
        end
    end)
end

--- Opens the connection (a no-op while open or opening).
function Client:open()
    if self._state == "open" or self._state == "connecting" then
        return self
    end
    if self._timer then
        self._timer:cancel()
        self._timer = nil
    end
    self._state = "connecting"
    self._closing = false
    self._closed = false
    if self._opts.recover and self._last_id then
        self._target.path = self._target.base_path .. "&since=" .. urlencode(self._last_id)
    end
    local ws, err
    ws, err = core.ws_connect(self._loop, self._target, {
        open = function()
            if self._ws ~= ws then
                return
            end
            self._state = "open"
            self._attempt = 0
            emit(self, "open", {})
            flush(self)
        end,
        message = function(data, binary)
            if self._ws == ws and not binary then
                dispatch(self, data)
            end
        end,
        error = function(message, refused)
            if self._ws == ws then
                emit(self, "error", {
                    message = message,
                    status = refused and refused.status,
                    reason = refused and refused.reason,
                })
            end
        end,
        close = function(code, reason, info)
            if self._ws ~= ws then
                return
            end
            self._ws = nil
            local wanted = self._closing
            self._state = "closed"
            info = info or {}
            -- a refused upgrade for want of credentials: retrying with the
            -- same ones cannot help, so stop and let the app decide (as
            -- Socket.IO does); other refusals (429, 503) back off and retry
            local denied = info.status == 401 or info.status == 403
            emit(self, "close", {
                code = code, reason = reason, status = info.status,
                peer_code = info.peer_code, peer_reason = info.peer_reason,
            })
            if not wanted and self._reconnect and not denied then
                schedule_reconnect(self)
            end
        end,
    })
    if not ws then
        self._state = "closed"
        emit(self, "error", { message = err })
        if self._reconnect then
            schedule_reconnect(self)
        end
        return self
    end
    self._ws = ws
    return self
end

--- on(event, fn) or on(filter_fn, fn); opens the connection.
function Client:on(event, fn)
    if type(fn) ~= "function" then
        error("client:on: listener must be a function", 2)
    end
    if type(event) == "function" then
        self._filters[#self._filters + 1] = { test = event, fn = fn }
    elseif type(event) == "string" then
        local list = self._listeners[event] or {}
        list[#list + 1] = fn
        self._listeners[event] = list
    else
        error("client:on: event must be a name or a filter function", 2)
    end
    if self._state == "idle" then
        self:open()
    end
    return self
end

--- remove(event, fn): removes a listener added with on().
function Client:remove(event, fn)
    if type(event) == "function" then
        for i = #self._filters, 1, -1 do
            if self._filters[i].test == event and (fn == nil or self._filters[i].fn == fn) then
                table.remove(self._filters, i)
            end
        end
        return self
    end
    local list = self._listeners[event] or {}
    for i = #list, 1, -1 do
        if list[i] == fn then
            table.remove(list, i)
        end
    end
    return self
end

--- send(message [, uid]): any JSON value; with uid, a direct message.
-- Queued until the connection is open.  After close() it queues nothing
-- and returns nil, "closed" (open() again to send).
function Client:send(message, uid)
    if self._closed then
        return nil, "closed"
    end
    local ok, text = pcall(json.encode, message)
    if not ok then
        error("client:send: message cannot be encoded as JSON: " .. tostring(text), 2)
    end
    if uid ~= nil then
        text = "\31" .. tostring(uid) .. "\31" .. text
    end
    self._queue[#self._queue + 1] = text
    if self._state == "idle" or (self._state == "closed" and not self._closing) then
        self:open()
    end
    flush(self)
    return self
end

--- push(message [, uid]): send, then close once it has gone out.
function Client:push(message, uid)
    self._push_close = true
    self._closing = true
    return self:send(message, uid)
end

--- close([code [, reason]]): closes and stops reconnecting.  The close
-- event that follows reports this code and reason (with peer_code and
-- peer_reason when the server's echo arrived); is_open() is false and
-- send() refuses from now on.
function Client:close(code, reason)
    self._closing = true
    self._closed = true
    if self._timer then
        self._timer:cancel()
        self._timer = nil
    end
    if self._ws then
        self._ws:close(code or 1000, reason or "")
    else
        self._state = "closed"
    end
    return self
end

--- The id of the newest message received (opts.recover), or nil.
function Client:last_id()
    return self._last_id
end

--- True while the socket is open and close() was not called: what send()
-- hands over then goes out at once (otherwise it is queued, or refused
-- with nil, "closed" after close()).
function Client:is_open()
    return self._state == "open" and not self._closing
end

return M
