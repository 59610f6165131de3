-- Webhooks (docs/webhooks.md): lifecycle events POSTed to a receiver in
-- this process (spec/webhook_sink.lua), signed, batched, retried, with
-- drops counted in /metrics.
local sb = require "switchboard"
local cjson = require "cjson"
local http = require "http_helper"
local support = require "support"
local Sink = require "webhook_sink"
local H = require "phx_helper"

local wait_until, settle = support.wait_until, support.settle
local SECRET = "hook-secret"

-- The signature as the receiver computes it, with openssl(1): a second
-- implementation of HMAC-SHA256, not the one that signed.
local function openssl_hmac(secret, body)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(body)
    f:close()
    local p = assert(io.popen(("openssl dgst -sha256 -hmac '%s' -r %s"):format(secret, path)))
    local out = p:read("*a")
    p:close()
    os.remove(path)
    return out:match("^(%x+)")
end

local function names(events)
    local out = {}
    for i, ev in ipairs(events) do
        out[i] = ev.name
    end
    return out
end

local function metric(port, line)
    local r = http.request(port, "GET", "/metrics")
    return tonumber(r.body:match(line:gsub("[%[%]{}\"]", "%%%0") .. " (%d+)"))
end

describe("webhooks", function()
    local sink, server

    local function listen(hooks, extra)
        local opts = { port = 0, webhooks = hooks }
        for k, v in pairs(extra or {}) do
            opts[k] = v
        end
        server = assert(sb.listen(opts))
        server:on("connect", function(conn, req) conn.member = req.query.user or conn.member end)
        return server
    end

    local function native(path)
        local c = support.raw(server:url(path))
        assert.is_true(c:wait_open())
        return c
    end

    before_each(function()
        sink = Sink.new()
    end)

    after_each(function()
        if server then
            server:close()
            server = nil
        end
        settle(0.05)
        sink:close()
    end)

    it("posts the lifecycle of a channel, signed with HMAC-SHA256 of the body", function()
        listen({ url = sink.url, secret = SECRET })
        local a = native("/c/room:1?user=ana")
        assert.is_true(wait_until(function() return #sink:named("member_added") == 1 end))
        local b = native("/c/room:1?user=ana")   -- ana again: no member_added, no occupied
        assert.is_true(wait_until(function() return #sink:named("connection_open") == 2 end))
        a:close()
        assert.is_true(wait_until(function() return #sink:named("connection_close") == 1 end))
        b:close()
        assert.is_true(wait_until(function() return #sink:named("channel_vacated") == 1 end))
        settle(0.05)
        -- a connection joins its channel before it opens, and leaves it
        -- before it closes
        assert.same({ "channel_occupied", "member_added", "connection_open", "connection_open",
            "connection_close", "member_removed", "channel_vacated", "connection_close" },
            names(sink:events()))
        local added = sink:named("member_added")[1]
        assert.same({ "room:1", "ana" }, { added.channel, added.member })
        assert.is_string(added.id)
        assert.is_number(added.time_ms)
        local open = sink:named("connection_open")[1]
        assert.same({ protocol = "native", member = "ana", channel = "room:1", uid = open.connection.uid },
            open.connection)
        assert.equal(1000, sink:named("connection_close")[1].code)
        for _, req in ipairs(sink.requests) do
            assert.equal("POST", req.method)
            assert.equal("/hooks", req.path)
            assert.equal("application/json", req.headers["content-type"])
            assert.equal(openssl_hmac(SECRET, req.body), req.headers["x-switchboard-signature"])
            assert.is_number(req.json.time_ms)
            assert.equal("1", req.headers["x-switchboard-attempt"])
            assert.is_string(req.headers["x-switchboard-delivery"])
        end
    end)

    it("sends one loop turn's events in one request, max_batch at a time", function()
        listen({ url = sink.url, secret = SECRET, max_batch = 15,
            events = { "channel_occupied", "member_added" } })
        local conns = {}
        for i = 1, 10 do   -- one loop turn: 10 channels occupied, 10 members added
            conns[i] = server.hub:attach(function() end)
            server.hub:join("batch:" .. i, "m" .. i, conns[i])
        end
        assert.is_true(wait_until(function() return #sink:events() == 20 end))
        settle(0.05)
        assert.equal(2, #sink.requests)
        assert.equal(15, #sink.requests[1].json.events)
        assert.equal(5, #sink.requests[2].json.events)
        assert.same({ "channel_occupied", "member_added" }, names({ sink:events()[1], sink:events()[2] }))
        for _, c in ipairs(conns) do
            c:close()
        end
    end)

    it("waits `batch` seconds for more events when asked", function()
        listen({ url = sink.url, secret = SECRET, batch = 0.2, events = { "member_added" } })
        local x, y = server.hub:attach(function() end), server.hub:attach(function() end)
        server.hub:join("w:1", "a", x)
        sb.after(0.05, function() server.hub:join("w:1", "b", y) end)
        assert.is_true(wait_until(function() return #sink:events() == 2 end))
        assert.equal(1, #sink.requests)
        x:close()
        y:close()
    end)

    it("retries a failed batch with backoff, then delivers it once", function()
        sink.status = function(_, n) return n <= 2 and 500 or 204 end
        listen({ url = sink.url, secret = SECRET, events = { "member_added" },
            backoff = { initial = 0.05, max = 0.2 } })
        local c = server.hub:attach(function() end)
        server.hub:join("r:1", "ana", c)
        assert.is_true(wait_until(function() return #sink.requests == 3 end))
        settle(0.1)
        assert.equal(3, #sink.requests)
        local ids = {}
        for i, req in ipairs(sink.requests) do
            assert.equal(tostring(i), req.headers["x-switchboard-attempt"])
            ids[i] = req.headers["x-switchboard-delivery"]
            assert.equal(req.body, sink.requests[1].body)   -- the same batch, byte for byte
        end
        assert.same({ ids[1], ids[1], ids[1] }, ids)
        assert.is_true(wait_until(function()
            return metric(server.port, 'switchboard_webhook_events_total{outcome="sent"}') == 1
        end))
        assert.equal(2, metric(server.port, "switchboard_webhook_retries_total"))
        c:close()
    end)

    it("gives up after the last retry and counts the events as failed", function()
        sink.status = 503
        listen({ url = sink.url, secret = SECRET, events = { "member_added" }, retries = 1,
            backoff = { initial = 0.02, max = 0.02 } })
        local c = server.hub:attach(function() end)
        server.hub:join("f:1", "ana", c)
        server.hub:join("f:2", "ana", c)
        assert.is_true(wait_until(function()
            return metric(server.port, 'switchboard_webhook_events_total{outcome="failed"}') == 2
        end))
        assert.equal(2, #sink.requests)
        c:close()
    end)

    it("drops what does not fit the queue and counts it in /metrics", function()
        sink.status = false   -- never answers: the first batch stays in flight
        listen({ url = sink.url, secret = SECRET, events = { "member_added" }, max_queue = 3,
            max_batch = 1, timeout = 30 })
        local c = server.hub:attach(function() end)
        server.hub:join("q:0", "ana", c)
        assert.is_true(wait_until(function() return #sink.requests == 1 end))
        for i = 1, 10 do
            server.hub:join("q:" .. i, "ana", c)
        end
        local port = server.port
        assert.equal(7, metric(port, 'switchboard_webhook_events_total{outcome="dropped"}'))
        assert.equal(4, metric(port, "switchboard_webhook_queued"))
        assert.equal(0, metric(port, 'switchboard_webhook_events_total{outcome="sent"}'))
        c:close()
    end)

    it("tries again after a request that got no answer in time", function()
        sink.status = function(_, n) return n > 1 and 200 or false end
        listen({ url = sink.url, secret = SECRET, events = { "member_added" }, timeout = 0.2,
            backoff = { initial = 0.02, max = 0.02 } })
        local c = server.hub:attach(function() end)
        server.hub:join("t:1", "ana", c)
        assert.is_true(wait_until(function()
            return metric(server.port, 'switchboard_webhook_events_total{outcome="sent"}') == 1
        end))
        assert.equal(2, #sink.requests)
        c:close()
    end)

    it("lets webhook listeners drop events or change them", function()
        listen({ url = sink.url, secret = SECRET })
        server:on("webhook", function(ev)
            if ev.name:match("^connection_") then
                return false
            end
            ev.app = "chat"
        end)
        server:on("webhook", function(ev)
            if ev.name == "member_added" then
                return { name = "member_added", channel = ev.channel, member = ev.member:upper(), app = ev.app }
            end
        end)
        local raised = false
        server:on("webhook", function()
            if not raised then   -- once: the spec hears it through onerror
                raised = true
                error("a broken listener")
            end
        end)
        local errors = {}
        sb.onerror(function(where, msg) errors[#errors + 1] = where .. ": " .. msg end)
        local a = native("/c/l:1?user=ana")
        assert.is_true(wait_until(function() return #sink:named("member_added") == 1 end))
        sb.onerror(nil)
        assert.same({ "channel_occupied", "member_added" }, names(sink:events()))
        local added = sink:named("member_added")[1]
        assert.same({ "member_added", "l:1", "ANA", "chat" }, { added.name, added.channel, added.member, added.app })
        assert.is_string(added.id)       -- kept from the event it replaced
        assert.is_number(added.time_ms)
        assert.equal("chat", sink:named("channel_occupied")[1].app)
        assert.matches("webhook listener: .*a broken listener", errors[1])
        a:close()
    end)

    it("sends client messages of the channels that opt in, from native and Phoenix clients", function()
        listen({ url = sink.url, secret = SECRET, events = { "client_message" },
            client_messages = { "chat:*" } })
        server:channel("chat:*", { on = { say = function() return {} end } })
        server:channel("quiet", { on = { say = function() return {} end } })
        local a = native("/c/chat:1?user=ana")
        local q = native("/c/other?user=ana")
        a:send(cjson.encode({ type = "say", text = "hi" }))
        q:send(cjson.encode({ type = "say", text = "not this" }))
        local phx = H.open(server.port, "/socket/websocket?vsn=2.0.0")
        phx:send('["1","1","chat:2","phx_join",{}]')
        phx:send('["1","2","chat:2","say",{"text":"from phoenix"}]')
        phx:send('["3","3","quiet","phx_join",{}]')
        phx:send('["3","4","quiet","say",{"text":"not this either"}]')
        assert.is_true(wait_until(function() return #sink:events() == 2 end))
        settle(0.1)
        local evs = sink:events()
        assert.equal(2, #evs)
        table.sort(evs, function(x, y) return x.channel < y.channel end)
        assert.same({ "chat:1", "say", { type = "say", text = "hi" }, "ana", "native" },
            { evs[1].channel, evs[1].event, evs[1].data, evs[1].member, evs[1].protocol })
        assert.same({ "chat:2", "say", { text = "from phoenix" }, "phoenix" },
            { evs[2].channel, evs[2].event, evs[2].data, evs[2].protocol })
        a:close()
        q:close()
        phx.close()
    end)

    it("filters by event names and channel patterns, per endpoint", function()
        local other = Sink.new("/other")
        listen({ { url = sink.url, secret = SECRET, events = { "member_added" }, channels = { "a:*" } },
            { url = other.url, secret = "other-secret", events = { "channel_occupied" } } })
        local c = server.hub:attach(function() end)
        server.hub:join("a:1", "x", c)
        server.hub:join("b:1", "x", c)
        assert.is_true(wait_until(function() return #sink:events() == 1 and #other:events() == 2 end))
        settle(0.05)
        assert.same({ "member_added" }, names(sink:events()))
        assert.equal("a:1", sink:events()[1].channel)
        assert.same({ "channel_occupied", "channel_occupied" }, names(other:events()))
        assert.equal(openssl_hmac("other-secret", other.requests[1].body),
            other.requests[1].headers["x-switchboard-signature"])
        c:close()
        other:close()
    end)

    it("sends the configured headers too", function()
        listen({ url = sink.url, secret = SECRET, events = { "member_added" },
            headers = { ["X-Tenant"] = "t1" } })
        local c = server.hub:attach(function() end)
        server.hub:join("h:1", "x", c)
        assert.is_true(wait_until(function() return #sink.requests == 1 end))
        assert.equal("t1", sink.requests[1].headers["x-tenant"])
        c:close()
    end)

    it("sends Pusher's format, signed with the app's secret, when asked", function()
        listen({ { url = sink.url, format = "pusher", client_messages = { "presence-*" } } },
            { pusher = { app_id = "1", key = "the-key", secret = "the-secret" } })
        server:channel("presence-*", { join = function() return true end,   -- docs/pusher.md#security
            on = { ["client-typing"] = function() return {} end } })
        local a = native("/c/presence-r?user=ana")
        local p = native("/c/plain?user=bob")
        a:send(cjson.encode({ type = "client-typing", on = true }))
        a:close()
        p:close()
        assert.is_true(wait_until(function() return #sink:named("channel_vacated") == 2 end))
        settle(0.05)
        for _, r in ipairs(sink.requests) do
            assert.equal("the-key", r.headers["x-pusher-key"])
            assert.equal(openssl_hmac("the-secret", r.body), r.headers["x-pusher-signature"])
            assert.is_nil(r.headers["x-switchboard-signature"])
            assert.same({ "events", "time_ms" }, { support.keys(r.json):match("^(events),(time_ms)$") })
        end
        local evs = sink:events()
        -- no connection events; members of presence channels only
        assert.same({ "channel_occupied", "member_added", "channel_occupied", "client_event",
            "member_removed", "channel_vacated", "channel_vacated" }, names(evs))
        assert.same({ name = "member_added", channel = "presence-r", user_id = "ana" }, evs[2])
        local ce = evs[4]
        assert.same({ "client_event", "presence-r", "client-typing", "ana" },
            { ce.name, ce.channel, ce.event, ce.user_id })
        assert.same({ type = "client-typing", on = true }, cjson.decode(ce.data))
        assert.is_string(ce.socket_id)
    end)

    it("checks its options up front", function()
        assert.has_error(function() sb.listen{ port = 0, webhooks = { url = "ftp://x", secret = "s" } } end)
        assert.has_error(function() sb.listen{ port = 0, webhooks = { url = sink.url } } end,
            "switchboard.listen: option 'webhooks.secret' is required (the non-empty key of the signatures)")
        assert.has_error(function()
            sb.listen{ port = 0, webhooks = { url = sink.url, secret = "s", events = { "member_joined" } } }
        end)
        assert.has_error(function()
            sb.listen{ port = 0, webhooks = { { url = sink.url, secret = "s", batch = -1 } } }
        end)
    end)
end)
