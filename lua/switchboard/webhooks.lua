--- switchboard.webhooks: lifecycle events POSTed to the app's backend
-- (docs/webhooks.md).  The server's hub and connection events become
-- webhook events, the app's `webhook` listeners may drop or change each
-- one, and every endpoint queues the events it wants, sends them in
-- batches signed with HMAC-SHA256 (one request at a time, so they arrive
-- in order), retries a failed batch with backoff and drops, counting
-- them, what does not fit its queue.  Internal: server.lua makes one per
-- server with `webhooks = { ... }`.
--
-- In a cluster every node sees every join and leave, so each event is
-- sent by one node only: the one whose connection it is about (member
-- and connection events, client messages), and for channel_occupied and
-- channel_vacated the one whose connection took the cluster-wide count
-- of the channel from 0 to 1 or from 1 to 0.
local core = require "switchboard.core"
local json = require "switchboard.json"
local options = require "switchboard.options"
local util = require "switchboard.util"

local M = {}

--- What an endpoint left out becomes (docs/webhooks.md#options).
M.DEFAULTS = {
    batch = 0,            -- seconds a batch waits for more events (0: the loop turn)
    max_batch = 100,      -- events per request
    max_queue = 10000,    -- events waiting per endpoint; beyond, dropped
    retries = 5,          -- attempts after the first for one batch
    timeout = 10,         -- seconds per request
    backoff = { initial = 1, max = 60, factor = 2, jitter = 0.5 },
}

local ALL_EVENTS = options.schemas.webhook_events

local Endpoint = {}
Endpoint.__index = Endpoint

-- "exact", "prefix*" or "*", as the channel rules take them.
local function matches(patterns, channel)
    for _, p in ipairs(patterns) do
        if p == channel or p == "*" or (p:sub(-1) == "*" and channel:sub(1, #p - 1) == p:sub(1, -2)) then
            return true
        end
    end
    return false
end

-- Pusher's webhook events (docs/webhooks.md#pusher-format): what each
-- of ours becomes, or nil when Pusher has no such event.  Member events
-- are about presence channels only, as Pusher sends them.
local function is_presence(channel)
    return type(channel) == "string" and channel:sub(1, 9) == "presence-"
end

local TO_PUSHER = {}
function TO_PUSHER.channel_occupied(ev)
    return { name = ev.name, channel = ev.channel }
end
TO_PUSHER.channel_vacated = TO_PUSHER.channel_occupied
function TO_PUSHER.member_added(ev)
    if is_presence(ev.channel) then
        return { name = ev.name, channel = ev.channel, user_id = ev.member }
    end
end
TO_PUSHER.member_removed = TO_PUSHER.member_added
function TO_PUSHER.client_message(ev)
    -- data is a string in Pusher's events: a JSON string's value, else
    -- the JSON text of the message
    local data = ev.data
    if type(data) ~= "string" then
        data = json.encode(data)
    end
    return { name = "client_event", channel = ev.channel, event = ev.event, data = data,
        socket_id = ev.socket_id or ev.uid,
        user_id = is_presence(ev.channel) and ev.member or nil }
end

local function pusher_event(ev)
    local to = TO_PUSHER[ev.name]
    return to and to(ev)
end

local function new_endpoint(owner, opts)
    local backoff = {}
    for k, v in pairs(M.DEFAULTS.backoff) do
        backoff[k] = (opts.backoff or {})[k] or v
    end
    local events = {}
    for _, e in ipairs(opts.events or ALL_EVENTS) do
        events[e] = true
    end
    local self = setmetatable({
        owner = owner, target = assert(util.parse_http_url(opts.url)),
        format = opts.format or "switchboard",
        secret = opts.secret or (owner.pusher and owner.pusher.secret),
        events = events, channels = opts.channels, client = opts.client_messages or {},
        batch = opts.batch or M.DEFAULTS.batch, max_batch = opts.max_batch or M.DEFAULTS.max_batch,
        max_queue = opts.max_queue or M.DEFAULTS.max_queue,
        retries = opts.retries or M.DEFAULTS.retries, timeout = opts.timeout or M.DEFAULTS.timeout,
        backoff = backoff, insecure = opts.insecure or false,
        queue = {}, head = 1, tail = 0,
    }, Endpoint)
    local headers = {}
    for k, v in pairs(opts.headers or {}) do
        headers[#headers + 1] = { k:lower(), v }
    end
    table.sort(headers, function(a, b) return a[1] < b[1] end)
    self.extra_headers = headers
    return self
end

--- True when this endpoint takes ev (its events list, its channels).
function Endpoint:wants(ev)
    if not self.events[ev.name] then
        return false
    end
    if self.format == "pusher" and not pusher_event(ev) then
        return false
    end
    if ev.name == "client_message" and not matches(self.client, ev.channel) then
        return false
    end
    return not (self.channels and ev.channel and not matches(self.channels, ev.channel))
end

function Endpoint:queued()
    return self.tail - self.head + 1
end

-- Arms the next send: after `batch` seconds for a new batch, at once when
-- the last one left events behind.
function Endpoint:arm(delay)
    if self.timer or self.inflight then
        return
    end
    self.timer = self.owner.loop:timer(delay, 0, function()
        self.timer = nil
        self:flush()
    end)
end

function Endpoint:push(ev)
    if self:queued() >= self.max_queue then
        self.owner.stats.dropped = self.owner.stats.dropped + 1
        return
    end
    self.tail = self.tail + 1
    self.queue[self.tail] = ev
    self:arm(self.batch)
end

-- Takes up to max_batch events off the queue.
function Endpoint:take()
    local list = json.array()
    while #list < self.max_batch and self.head <= self.tail do
        list[#list + 1] = self.queue[self.head]
        self.queue[self.head] = nil
        self.head = self.head + 1
    end
    return list
end

function Endpoint:flush()
    if self.inflight or self:queued() == 0 then
        return
    end
    local owner = self.owner
    local events = self:take()
    owner.seq = owner.seq + 1
    local body
    if self.format == "pusher" then
        local list = json.array()
        for i, ev in ipairs(events) do
            list[i] = pusher_event(ev)
        end
        body = json.encode({ time_ms = core.now_ms(), events = list })
    else
        body = json.encode({ time_ms = core.now_ms(), node = owner.node, events = events })
    end
    self.inflight = {
        events = events, body = body, attempt = 0,
        delivery = ("%s-%d"):format(owner.id, owner.seq),
        signature = assert(core.hmac_sha256_hex(self.secret, body)),
    }
    self:send()
end

-- One attempt at the batch in flight.
function Endpoint:send()
    local b, t = self.inflight, self.target
    b.attempt = b.attempt + 1
    local headers = {
        { "content-type", "application/json" },
        { "user-agent", "switchboard/" .. tostring(core.version) },
        { "x-switchboard-delivery", b.delivery },
        { "x-switchboard-attempt", tostring(b.attempt) },
    }
    if self.format == "pusher" then
        headers[#headers + 1] = { "x-pusher-key", self.owner.pusher.key }
        headers[#headers + 1] = { "x-pusher-signature", b.signature }
    else
        headers[#headers + 1] = { "x-switchboard-signature", b.signature }
    end
    for _, h in ipairs(self.extra_headers) do
        headers[#headers + 1] = h
    end
    local req, err = core.http_request(self.owner.loop, {
        host = t.host, port = t.port, path = t.path, tls = t.tls, insecure = self.insecure,
        method = "POST", headers = headers, body = b.body, timeout = self.timeout,
    }, function(status, _, why)
        self.request = nil
        self:answered(status, why)
    end)
    self.request = req
    if not req then
        self:answered(0, err)
    end
end

-- The delay before attempt n + 1 (n >= 1 attempts made), with jitter.
function Endpoint:delay(n)
    local bo = self.backoff
    local d = math.min(bo.max, bo.initial * bo.factor ^ (n - 1))
    return d * (1 - bo.jitter * math.random())
end

function Endpoint:answered(status, why)
    local b, stats = self.inflight, self.owner.stats
    if status >= 200 and status < 300 then
        stats.sent = stats.sent + #b.events
    elseif b.attempt <= self.retries and not self.owner.closing then
        stats.retries = stats.retries + 1
        self.last_error = why or ("HTTP " .. status)
        self.retry = self.owner.loop:timer(self:delay(b.attempt), 0, function()
            self.retry = nil
            self:send()
        end)
        return
    else
        stats.failed = stats.failed + #b.events
        self.last_error = why or ("HTTP " .. status)
    end
    self.inflight = nil
    if self:queued() > 0 then
        self:arm(0)
    end
end

-- The server closes: a batch waiting for its retry goes now, for the
-- last time, and so does whatever waits for its batch.
function Endpoint:close()
    if self.retry then
        self.retry:cancel()
        self.retry = nil
        self:send()
    end
    if self.timer then
        self.timer:cancel()
        self.timer = nil
        self:flush()
    end
end

local Hooks = {}
Hooks.__index = Hooks

-- Runs the app's webhook listeners on ev (each may return false: drop
-- it, or a table: send that instead), then queues it on every endpoint
-- that wants it.  A listener that raises is reported and leaves ev as
-- it was.
function Hooks:emit(ev)
    self.seq_events = self.seq_events + 1
    ev.id = ("%s-e%d"):format(self.id, self.seq_events)
    ev.time_ms = core.now_ms()
    for _, fn in ipairs(self.listeners) do
        local ok, out = core.call_reported("webhook listener", fn, ev)
        if ok and out == false then
            return
        elseif ok and type(out) == "table" then
            -- every event has these, the replacement too
            out.id, out.time_ms = out.id or ev.id, out.time_ms or ev.time_ms
            ev = out
        end
    end
    for _, ep in ipairs(self.endpoints) do
        if ep:wants(ev) then
            ep:push(ev)
        end
    end
end

-- What an event says of a connection.
local function about(conn)
    return { uid = conn.uid, protocol = conn.protocol, member = conn.member,
        alias = conn.alias, channel = conn.channel }
end

-- A hub connection of one of this hub's servers, or a fake one
-- (hub:attach): local either way; remote events have none.
local function on_hub(self, name, channel, member, conn)
    if conn == nil then
        return   -- another node's connection: that node sends it
    end
    local hub = self.hub
    if name == "session:join" and hub:connection_count(channel) == 1 then
        self:emit({ name = "channel_occupied", channel = channel })
    elseif name == "session:leave" and hub:connection_count(channel) == 0 then
        self:emit({ name = "channel_vacated", channel = channel })
    elseif name == "presence:join" then
        self:emit({ name = "member_added", channel = channel, member = member })
    elseif name == "presence:leave" then
        self:emit({ name = "member_removed", channel = channel, member = member })
    end
end

--- True when client messages of channel go to some endpoint (the
-- server then hands native messages of that channel to Lua).
function Hooks:wants_client(channel)
    for _, ep in ipairs(self.endpoints) do
        if ep.events.client_message and matches(ep.client, channel) then
            return true
        end
    end
    return false
end

--- A message a client sent on channel (after the channel's rules let it
-- through): event is its type (native: message.type or "message";
-- Phoenix: the push's event).
function Hooks:client_message(conn, channel, event, data)
    if self:wants_client(channel) then
        self:emit({ name = "client_message", channel = channel, event = event, data = data,
            member = conn.member, uid = conn.uid, protocol = conn.protocol,
            socket_id = rawget(conn, "socket_id") })
    end
end

--- The lines /metrics adds for the webhooks (Prometheus text).
function Hooks:metrics()
    local queued = 0
    for _, ep in ipairs(self.endpoints) do
        queued = queued + ep:queued() + (ep.inflight and #ep.inflight.events or 0)
    end
    local st = self.stats
    return table.concat({
        "# HELP switchboard_webhook_events_total Webhook events: sent (answered 2xx), dropped "
            .. "(the queue was full), failed (given up after the last retry).",
        "# TYPE switchboard_webhook_events_total counter",
        ('switchboard_webhook_events_total{outcome="sent"} %d'):format(st.sent),
        ('switchboard_webhook_events_total{outcome="dropped"} %d'):format(st.dropped),
        ('switchboard_webhook_events_total{outcome="failed"} %d'):format(st.failed),
        "# HELP switchboard_webhook_retries_total Webhook requests that failed and were tried again.",
        "# TYPE switchboard_webhook_retries_total counter",
        ("switchboard_webhook_retries_total %d"):format(st.retries),
        "# HELP switchboard_webhook_queued Webhook events waiting or in flight.",
        "# TYPE switchboard_webhook_queued gauge",
        ("switchboard_webhook_queued %d"):format(queued),
    }, "\n") .. "\n"
end

--- Counters: { sent =, dropped =, failed =, retries =, queued = }.
function Hooks:stats()
    local st = {}
    for k, v in pairs(self.stats) do
        st[k] = v
    end
    st.queued = 0
    for _, ep in ipairs(self.endpoints) do
        st.queued = st.queued + ep:queued() + (ep.inflight and #ep.inflight.events or 0)
    end
    return st
end

--- The server closes: what is queued goes out once more, not retried.
function Hooks:close()
    self.closing = true
    for _, ep in ipairs(self.endpoints) do
        ep:close()
    end
end

-- A name for deliveries and events: the node's, else a random one.
local function origin_id(server)
    if server.node then
        return server.node
    end
    return ("sb%06x%04x"):format(math.floor(core.now_ms()) % 0x1000000, math.random(0, 0xffff))
end

--- The webhooks of a server.  opts: the `webhooks` option (one endpoint
-- table or a list), checked by switchboard.options; listeners: the
-- server's list of webhook listeners (server:on("webhook", fn)); pusher:
-- the `pusher` option (the key and secret of Pusher-format endpoints).
function M.new(server, opts, listeners, pusher)
    local self = setmetatable({
        hub = server.hub, loop = server._loop, listeners = listeners, endpoints = {},
        pusher = pusher,
        stats = { sent = 0, dropped = 0, failed = 0, retries = 0 },
        seq = 0, seq_events = 0,
    }, Hooks)
    for _, o in ipairs(opts.url and { opts } or opts) do
        self.endpoints[#self.endpoints + 1] = new_endpoint(self, o)
    end
    for _, name in ipairs({ "session:join", "session:leave", "presence:join", "presence:leave" }) do
        server.hub:on(name, function(channel, member, conn) on_hub(self, name, channel, member, conn) end)
    end
    server:on("open", function(conn)
        self:emit({ name = "connection_open", connection = about(conn) })
    end)
    server:on("close", function(conn, code)
        self:emit({ name = "connection_close", connection = about(conn), code = code })
    end)
    self.id = origin_id(server)
    return self
end

--- The server joined its cluster (or has none): its node names the
-- deliveries from now on.
function Hooks:started(server)
    self.node = server.node or server.hub.node
    self.id = origin_id(server)
end

return M
