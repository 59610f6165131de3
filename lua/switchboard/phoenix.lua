--- switchboard.phoenix: a Phoenix Channels client for Lua, shaped like the
-- npm `phoenix` client (docs/protocols.md#lua-client-behaviour): socket, channels, pushes with
-- receive("ok" | "error" | "timeout", fn), heartbeat, rejoin and reconnect
-- with Phoenix's backoff schedules, V2 JSON and binary frames, and a
-- Presence helper that merges state and diffs the way the JS class does.
--
--   local socket = sb.phoenix.socket("ws://127.0.0.1:8080/socket", { token = "t" })
--   socket:connect()
--   local ch = socket:channel("room:lobby", { nick = "ann" })
--   ch:on("new_msg", function(payload) print(payload.body) end)
--   ch:join():receive("ok", function(resp) ch:push("new_msg", { body = "hi" }) end)
-- @module switchboard.phoenix
local core = require "switchboard.core"
local json = require "switchboard.json"
local client = require "switchboard.client"
local presence = require "switchboard.phoenix_presence"
local util = require "switchboard.util"

local M = {}

local Socket = util.class("switchboard.phoenix.Socket")
local Channel = util.class("switchboard.phoenix.Channel")
local Push = util.class("switchboard.phoenix.Push")

-- The npm client's schedules (seconds), docs/protocols.md#lua-client-behaviour.
local RECONNECT = { 0.01, 0.05, 0.1, 0.15, 0.2, 0.25, 0.5, 1, 2 }
local REJOIN = { 1, 2, 5 }

--- Seconds before reconnect attempt number `tries` (the npm client's
-- schedule: 10 ms rising to 2 s, then 5 s).  Replace with
-- `opts.reconnect_after` in socket().
function M.reconnect_after(tries)
    return RECONNECT[tries] or 5
end

--- Seconds before rejoin attempt number `tries` of a channel that errored
-- (1, 2, 5, then 10 s).  Replace with `opts.rejoin_after` in socket().
function M.rejoin_after(tries)
    return REJOIN[tries] or 10
end

local function null_to_nil(v)
    if v == json.null then
        return nil
    end
    return v
end

local urlencode = util.urlencode

-- Phoenix's query encoding: nested tables as parent[child]=value.
local function encode_params(params, prefix, out)
    local keys = {}
    for k in pairs(params) do
        keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
        local v = params[k]
        local name = prefix and (prefix .. "[" .. tostring(k) .. "]") or tostring(k)
        if type(v) == "table" then
            encode_params(v, name, out)
        else
            out[#out + 1] = urlencode(name) .. "=" .. urlencode(v)
        end
    end
    return out
end

-- base64 with "=" removed, as the JS client writes the authToken.
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
    local out = {}
    for i = 1, #s, 3 do
        local a, b, c = s:byte(i, i + 2)
        local n = a * 65536 + (b or 0) * 256 + (c or 0)
        local chars = 2 + (b and 1 or 0) + (c and 1 or 0)
        for j = 1, chars do
            local v = math.floor(n / 2 ^ (6 * (4 - j))) % 64
            out[#out + 1] = B64:sub(v + 1, v + 1)
        end
    end
    return table.concat(out)
end

local function byte_len(s)
    if #s > 255 then
        error("phoenix: binary frame fields are limited to 255 bytes", 3)
    end
    return string.char(#s)
end

-- Client binary push (docs/protocols.md#binary-frames): 0 | lens | join_ref | ref | topic | event | payload.
local function encode_binary(msg)
    local jr, ref = msg.join_ref or "", msg.ref or ""
    return string.char(0) .. byte_len(jr) .. byte_len(ref) .. byte_len(msg.topic)
        .. byte_len(msg.event) .. jr .. ref .. msg.topic .. msg.event .. msg.payload
end

-- Server binary frames: push (0), reply (1), broadcast (2).
local function decode_binary(s)
    local kind = s:byte(1)
    local function fields(header, lens)
        local pos, out = header + 1, {}
        for i = 1, #lens do
            out[i] = s:sub(pos, pos + lens[i] - 1)
            pos = pos + lens[i]
        end
        out[#lens + 1] = s:sub(pos)
        return out
    end
    if kind == 0 and #s >= 4 then
        local f = fields(4, { s:byte(2), s:byte(3), s:byte(4) })
        return { join_ref = f[1] ~= "" and f[1] or nil, topic = f[2], event = f[3], payload = f[4] }
    elseif kind == 1 and #s >= 5 then
        local f = fields(5, { s:byte(2), s:byte(3), s:byte(4), s:byte(5) })
        return { join_ref = f[1] ~= "" and f[1] or nil, ref = f[2], topic = f[3], event = "phx_reply",
            payload = { status = f[4], response = f[5] } }
    elseif kind == 2 and #s >= 3 then
        local f = fields(3, { s:byte(2), s:byte(3) })
        return { topic = f[1], event = f[2], payload = f[3] }
    end
    return nil
end

local function decode_text(s)
    local v = json.decode(s)
    if type(v) ~= "table" or type(v[3]) ~= "string" or type(v[4]) ~= "string" then
        return nil
    end
    local payload = null_to_nil(v[5])
    return { join_ref = null_to_nil(v[1]), ref = null_to_nil(v[2]), topic = v[3], event = v[4],
        payload = payload == nil and {} or payload }
end

local function encode_json_payload(p)
    if p == nil or (type(p) == "table" and next(p) == nil) then
        return "{}"
    end
    return json.encode(p)
end

-- Push ---------------------------------------------------------------

local function new_push(channel, event, payload, timeout)
    return setmetatable({ channel = channel, event = event, payload = payload or {},
        timeout = timeout, hooks = {} }, Push)
end

--- Calls fn(response) when the reply with `status` arrives ("timeout":
-- when none came in time).  Returns the push, for chaining.
function Push:receive(status, fn)
    if self.received and self.received.status == status then
        fn(self.received.response)
    end
    self.hooks[#self.hooks + 1] = { status = status, fn = fn }
    return self
end

function Push:_cancel()
    if self.timer then
        self.timer:cancel()
        self.timer = nil
    end
    if self.ref then
        self.channel._replies[self.ref] = nil
    end
end

function Push:_match(status, response)
    for _, h in ipairs(self.hooks) do
        if h.status == status then
            h.fn(response)
        end
    end
end

function Push:_start_timeout()
    local socket = self.channel.socket
    self:_cancel()
    self.ref = socket:make_ref()
    self.channel._replies[self.ref] = self
    self.timer = socket._loop:timer(self.timeout, 0, function()
        self.timer = nil
        self.channel._replies[self.ref] = nil
        self:_match("timeout", {})
    end)
end

function Push:_reply(status, response)
    if self.timer then
        self.timer:cancel()
        self.timer = nil
    end
    self.channel._replies[self.ref] = nil
    self.received = { status = status, response = response }
    self:_match(status, response)
end

--- Sends the push now (or again), restarting its timeout.  Channel:push
-- calls this; a push made while not joined is sent on join.
function Push:send()
    if not self.ref or not self.timer then
        self:_start_timeout()
    end
    self.sent = true
    self.channel.socket:_push({ topic = self.channel.topic, event = self.event,
        payload = self.payload, ref = self.ref, join_ref = self.channel:join_ref() })
end

function Push:_resend(timeout)
    self.timeout = timeout or self.timeout
    self.received = nil
    self.sent = false
    self:_start_timeout()
    self:send()
end

-- Channel ------------------------------------------------------------

local function new_channel(socket, topic, params)
    local self = setmetatable({ socket = socket, topic = topic, params = params or {},
        state = "closed", bindings = {}, _replies = {}, _buffer = {}, _tries = 0,
        timeout = socket.timeout, _binding_ref = 0 }, Channel)
    self._join_push = new_push(self, "phx_join", nil, self.timeout)
    self._join_push:receive("ok", function()
        self.state = "joined"
        self._tries = 0
        self:_cancel_rejoin()
        local buffer = self._buffer
        self._buffer = {}
        for _, p in ipairs(buffer) do
            p:send()
        end
    end)
    self._join_push:receive("error", function()
        self.state = "errored"
        if socket:is_connected() then
            self:_schedule_rejoin()
        end
    end)
    self._join_push:receive("timeout", function()
        -- leave the timed-out join (fresh ref, same join_ref), then retry
        socket:_push({ topic = topic, event = "phx_leave", payload = {},
            ref = socket:make_ref(), join_ref = self:join_ref() })
        self.state = "errored"
        self._join_push.received = nil
        if socket:is_connected() then
            self:_schedule_rejoin()
        end
    end)
    return self
end

--- The ref of the current join (a string), or nil before the first join.
function Channel:join_ref()
    return self._join_push.ref
end

function Channel:_cancel_rejoin()
    if self._rejoin_timer then
        self._rejoin_timer:cancel()
        self._rejoin_timer = nil
    end
end

function Channel:_schedule_rejoin()
    self:_cancel_rejoin()
    self._tries = self._tries + 1
    self._rejoin_timer = self.socket._loop:timer(self.socket.rejoin_after(self._tries), 0, function()
        self._rejoin_timer = nil
        if self.socket:is_connected() and self.state == "errored" then
            self:_rejoin()
        end
    end)
end

function Channel:_rejoin()
    if self.state == "leaving" then
        return
    end
    self.state = "joining"
    self._join_push.payload = self.params
    self._join_push:_resend(self.timeout)
end

--- Joins the topic (once per channel object); returns the join push.
function Channel:join(timeout)
    if self._joined_once then
        error("phoenix: tried to join a channel object more than once; make a new one", 2)
    end
    self._joined_once = true
    self.timeout = timeout or self.timeout
    self:_rejoin()
    return self._join_push
end

--- Calls fn(payload, ref, join_ref) for each `event`; returns a binding
-- ref for :off.
function Channel:on(event, fn)
    self._binding_ref = self._binding_ref + 1
    self.bindings[#self.bindings + 1] = { event = event, fn = fn, ref = self._binding_ref }
    return self._binding_ref
end

--- Removes the bindings of `event` (only the one with `ref`, from :on,
-- when given).
function Channel:off(event, ref)
    for i = #self.bindings, 1, -1 do
        local b = self.bindings[i]
        if b.event == event and (ref == nil or b.ref == ref) then
            table.remove(self.bindings, i)
        end
    end
end

--- Calls fn(payload) when the channel is closed (left, or closed by the
-- server); returns a binding ref.
function Channel:on_close(fn)
    return self:on("phx_close", fn)
end

--- Calls fn(reason) when the channel errors (socket lost, join crashed);
-- the channel rejoins by itself.  Returns a binding ref.
function Channel:on_error(fn)
    return self:on("phx_error", fn)
end

--- Sends an event; a string payload goes out as a binary frame.  Held
-- until the channel is joined.  Returns the push.
function Channel:push(event, payload, timeout)
    if not self._joined_once then
        error(("phoenix: tried to push %q to %q before joining"):format(event, self.topic), 2)
    end
    local p = new_push(self, event, payload, timeout or self.timeout)
    if self.socket:is_connected() and self.state == "joined" then
        p:send()
    else
        p:_start_timeout()
        self._buffer[#self._buffer + 1] = p
    end
    return p
end

--- Leaves the topic; the channel is closed on the reply or on timeout.
function Channel:leave(timeout)
    self:_cancel_rejoin()
    self._join_push:_cancel()
    self.state = "leaving"
    local function on_close()
        self:_trigger("phx_close", { reason = "leave" })
    end
    local p = new_push(self, "phx_leave", {}, timeout or self.timeout)
    p:receive("ok", on_close):receive("timeout", on_close)
    p:send()
    if not self.socket:is_connected() then
        p:_reply("ok", {})
    end
    return p
end

function Channel:_trigger(event, payload, ref, join_ref)
    if event == "phx_close" then
        self:_cancel_rejoin()
        self.state = "closed"
        self.socket:_remove(self)
    elseif event == "phx_error" then
        if self.state == "leaving" or self.state == "closed" then
            return
        end
        self.state = "errored"
        if self.socket:is_connected() then
            self:_schedule_rejoin()
        end
    elseif event == "phx_reply" and ref then
        local p = self._replies[ref]
        if p then
            p:_reply(payload.status, payload.response)
        end
        return
    end
    local list = {}
    for i, b in ipairs(self.bindings) do
        list[i] = b
    end
    for _, b in ipairs(list) do
        if b.event == event then
            b.fn(payload, ref, join_ref)
        end
    end
end

-- Socket -------------------------------------------------------------

--- sb.phoenix.socket(url, params, opts): url is the mount
-- ("ws://host:port/socket"); params a table or a function returning one
-- (evaluated on every connect); opts { timeout = 10, heartbeat = 30,
-- auth_token = s, reconnect_after = fn(tries) -> s, rejoin_after = fn }.
function M.socket(loop, url, params, opts)
    if type(url) ~= "string" then
        error("phoenix.socket: url must be a string", 3)
    end
    opts = opts or {}
    local target, err = client.parse_url((url:gsub("^http", "ws")))
    if not target then
        error("phoenix.socket: " .. err .. ": " .. url, 3)
    end
    return setmetatable({
        url = url, params = params or {}, _loop = loop, _target = target,
        timeout = opts.timeout or 10, heartbeat = opts.heartbeat or 30,
        auth_token = opts.auth_token, vsn = opts.vsn or "2.0.0",
        reconnect_after = opts.reconnect_after or M.reconnect_after,
        rejoin_after = opts.rejoin_after or M.rejoin_after,
        channels = {}, _ref = 0, _send_buffer = {}, _tries = 0, _listeners = {},
        state = "closed",
    }, Socket)
end

--- The next message ref of this socket (a string).
function Socket:make_ref()
    self._ref = self._ref + 1
    return tostring(self._ref)
end

--- True while the WebSocket is open.
function Socket:is_connected()
    return self.state == "open"
end

--- on("open" | "close" | "error" | "message", fn)
function Socket:on(event, fn)
    local list = self._listeners[event] or {}
    self._listeners[event] = list
    list[#list + 1] = fn
    return self
end

function Socket:_emit(event, ...)
    for _, fn in ipairs(self._listeners[event] or {}) do
        fn(...)
    end
end

--- A channel object for `topic` with join params (a table or nil); call
-- :join() on it.  One object joins once; make a new one to join again.
function Socket:channel(topic, params)
    local ch = new_channel(self, topic, params)
    self.channels[#self.channels + 1] = ch
    return ch
end

function Socket:_remove(ch)
    for i = #self.channels, 1, -1 do
        if self.channels[i] == ch then
            table.remove(self.channels, i)
        end
    end
end

function Socket:_path()
    local p = self.params
    if type(p) == "function" then
        p = p()
    end
    local q = encode_params(p or {}, nil, {})
    q[#q + 1] = "vsn=" .. urlencode(self.vsn)
    local base = self._target.path:gsub("/$", "")
    return base .. "/websocket?" .. table.concat(q, "&")
end

function Socket:_push(msg)
    local frame, binary
    if type(msg.payload) == "string" then
        frame, binary = encode_binary(msg), true
    else
        frame = json.encode({ msg.join_ref or json.null, msg.ref or json.null, msg.topic, msg.event,
            json.null })
        -- the payload is spliced in so an empty table stays an object
        frame = frame:sub(1, -6) .. encode_json_payload(msg.payload) .. "]"
    end
    if self:is_connected() then
        self._ws:send(frame, binary)
    else
        self._send_buffer[#self._send_buffer + 1] = { frame, binary }
    end
end

function Socket:_stop_heartbeat()
    if self._hb_timer then
        self._hb_timer:cancel()
        self._hb_timer = nil
    end
    self._hb_ref = nil
end

-- One heartbeat an interval after open or after the last reply; no reply
-- within an interval closes the socket (1000, "heartbeat timeout") and
-- reconnects, as the JS client does.
function Socket:_schedule_heartbeat()
    self:_stop_heartbeat()
    self._hb_timer = self._loop:timer(self.heartbeat, 0, function()
        self._hb_timer = nil
        if not self:is_connected() then
            return
        end
        self._hb_ref = self:make_ref()
        self:_push({ topic = "phoenix", event = "heartbeat", payload = {}, ref = self._hb_ref })
        self._hb_timer = self._loop:timer(self.heartbeat, 0, function()
            self._hb_timer = nil
            if self._hb_ref then
                self._hb_ref = nil
                self:_abnormal_close("heartbeat timeout", "heartbeat_timeout")
            end
        end)
    end)
end

function Socket:_abnormal_close(reason, channel_reason)
    local ws = self._ws
    if ws then
        self:_on_close(1000, reason, channel_reason)
        ws:close(1000, reason)
    end
end

function Socket:_on_open()
    self.state = "open"
    self._tries = 0
    self:_schedule_heartbeat()
    local buffer = self._send_buffer
    self._send_buffer = {}
    for _, f in ipairs(buffer) do
        self._ws:send(f[1], f[2])
    end
    self:_emit("open")
    for _, ch in ipairs(self.channels) do
        ch._tries = 0
        ch:_cancel_rejoin()
        if ch.state == "errored" then
            ch:_rejoin()
        end
    end
end

function Socket:_on_message(data, binary)
    local msg
    if binary then
        msg = decode_binary(data)
    else
        msg = decode_text(data)
    end
    if not msg then
        return
    end
    if msg.topic == "phoenix" and msg.ref and msg.ref == self._hb_ref then
        self._hb_ref = nil
        self:_schedule_heartbeat()
    end
    self:_emit("message", msg)
    local list = {}
    for i, ch in ipairs(self.channels) do
        list[i] = ch
    end
    for _, ch in ipairs(list) do
        -- the acceptance rule of docs/protocols.md#refs-and-join-refs
        if ch.topic == msg.topic and (msg.join_ref == nil or msg.join_ref == ch:join_ref()) then
            ch:_trigger(msg.event, msg.payload, msg.ref, msg.join_ref)
        end
    end
end

-- channel_reason: what errored channels are told (the JS client says
-- "heartbeat_timeout" for a heartbeat timeout, else the close reason).
function Socket:_on_close(code, reason, channel_reason)
    if self._ws == nil then
        return
    end
    self._ws = nil
    self:_stop_heartbeat()
    local was_open = self.state == "open"
    self.state = "closed"
    if was_open then
        for _, ch in ipairs(self.channels) do
            if ch.state == "joined" or ch.state == "joining" then
                ch.state = "errored"
                ch:_cancel_rejoin()
                ch._join_push:_cancel()
                for _, b in ipairs(ch.bindings) do
                    if b.event == "phx_error" then
                        b.fn({ source = "transport", reason = channel_reason or reason })
                    end
                end
            end
        end
    end
    self:_emit("close", code, reason)
    if not self._closing then
        self._tries = self._tries + 1
        self._reconnect_timer = self._loop:timer(self.reconnect_after(self._tries), 0, function()
            self._reconnect_timer = nil
            if not self._closing then
                self:connect()
            end
        end)
    end
end

--- Opens the socket (no-op while connecting or open).
function Socket:connect()
    if self._ws then
        return self
    end
    self._closing = false
    if self._reconnect_timer then
        self._reconnect_timer:cancel()
        self._reconnect_timer = nil
    end
    self.state = "connecting"
    local protocols
    if self.auth_token then
        protocols = "phoenix,base64url.bearer.phx." .. base64(self.auth_token)
    end
    local ws, err
    ws, err = core.ws_connect(self._loop, {
        host = self._target.host, port = self._target.port, tls = self._target.tls,
        path = self:_path(), protocols = protocols,
    }, {
        open = function()
            if self._ws == ws then
                self:_on_open()
            end
        end,
        message = function(data, binary)
            if self._ws == ws then
                self:_on_message(data, binary)
            end
        end,
        error = function(message)
            if self._ws == ws then
                self:_emit("error", message)
                self:_on_close(1006, message)
            end
        end,
        close = function(code, reason)
            if self._ws == ws then
                self:_on_close(code, reason)
            end
        end,
    })
    if not ws then
        self._ws = true
        self:_emit("error", err)
        self:_on_close(1006, err)
        return self
    end
    self._ws = ws
    return self
end

--- Closes the socket for good (no reconnect).
function Socket:disconnect(code, reason)
    self._closing = true
    if self._reconnect_timer then
        self._reconnect_timer:cancel()
        self._reconnect_timer = nil
    end
    local ws = self._ws
    if ws then
        self:_on_close(code or 1000, reason or "")
        if ws ~= true then
            ws:close(code or 1000, reason or "")
        end
    end
    return self
end

-- Presence -----------------------------------------------------------
-- The helper lives in switchboard.phoenix_presence; it stays reachable here.
M.sync_diff = presence.sync_diff
M.sync_state = presence.sync_state
M.list = presence.list
M.presence = presence.presence

return M
