-- The server API and webhooks in a cluster: two nodes in this process
-- and a redis-server of the spec's own (spec/redis_helper.lua).  Calls to
-- one node act on the other node's connections; each webhook event is
-- sent by one node only.
local cjson = require "cjson"
local http = require "http_helper"
local support = require "support"
local R = require "redis_helper"
local Sink = require "webhook_sink"
local H = require "phx_helper"
local sign = require "pusher_sign"

local wait_until, settle = support.wait_until, support.settle
local core = require "switchboard.core"

-- What a node holds of a channel's history itself.
local function core_history(s, channel)
    return core.hub_history(s.hub.core, channel, 100) or {}
end
local KEY = "cluster-key-1"

if not R.have_redis() then
    describe("server API in a cluster", function()
        pending("redis-server is not installed")
    end)
    return
end

describe("server API in a cluster", function()
    local fx = R.fixture()
    setup(fx.start)
    teardown(fx.stop)
    after_each(fx.close_all)

    -- without_api: a node that still acts on the notes of those with one
    local function node(name, without_api)
        local s = fx.listen(name, { api = not without_api and { keys = { [KEY] = true }, timeout = 2 } or nil })
        s:on("connect", function(conn, req) conn.member = req.query.user or conn.member end)
        return s
    end

    local function call(s, method, body)
        local r = http.request(s.port, "POST", "/api/" .. method, { ["X-API-Key"] = KEY },
            cjson.encode(body))
        return r.status, r.json
    end

    local function native(s, path)
        local c = support.raw(s:url(path))
        assert.is_true(c:wait_open())
        fx.later(function() c:close() end)
        return c
    end

    local function two(a_without_api)
        local a, b = node("api-a", a_without_api), node("api-b")
        assert.is_true(R.connected(a.hub, b.hub))
        return a, b
    end

    it("answers queries about the other node's connections", function()
        local a, b = two()
        native(a, "/c/cl:1?user=ana")
        assert.is_true(wait_until(function() return #b.hub:presence("cl:1") == 1 end))
        local status, body = call(b, "presence", { channel = "cl:1" })
        assert.equal(200, status)
        assert.same({ "ana" }, body.result.members)
        status, body = call(b, "presence_stats", { channel = "cl:1" })
        assert.equal(200, status)
        assert.same({ members = 1, connections = 1, nodes = { ["api-a"] = 1 } }, body.result)
        status, body = call(b, "channels", { prefix = "cl:" })
        assert.equal(200, status)
        assert.same({ { name = "cl:1", members = 1, connections = 1 } }, body.result.channels)
    end)

    it("publishes to the other node's clients, and broadcasts to a user there", function()
        local a, b = two()
        local c = native(a, "/c/cl:2?user=ana")
        assert.is_true(wait_until(function() return #b.hub:presence("cl:2") == 1 end))
        local status, body = call(b, "publish", { channel = "cl:2", event = "news", data = 1 })
        assert.equal(200, status)
        assert.same({ receivers = 1 }, body.result)
        assert.is_true(wait_until(function() return #c:of_type("news") == 1 end))
        status, body = call(b, "broadcast", { user = "ana", event = "dm", data = { x = 1 } })
        assert.equal(200, status)
        assert.same({ delivered = 0, channels = 1, forwarded = true }, body.result)
        assert.is_true(wait_until(function() return #c:of_type("dm") == 1 end))
        assert.same({ x = 1 }, c:of_type("dm")[1].message)
    end)

    it("disconnects and subscribes a user whose connections are on a node without an API", function()
        local a, b = two(true)
        local c = native(a, "/c/cl:3?user=bo")
        local phx = H.open(a.port, "/socket/websocket?vsn=2.0.0&user=bo")
        fx.later(function() phx.close() end)
        assert.is_true(wait_until(function() return #b.hub:presence("cl:3") == 1 end))
        local status, body = call(b, "subscribe", { user = "bo", channel = "cl:sub" })
        assert.equal(200, status)
        -- a's counts: the Phoenix socket subscribed, the native one skipped
        assert.same({ subscribed = 1, already = 0, skipped = 1, nodes = 1 }, body.result)
        assert.is_true(wait_until(function() return #b.hub:presence("cl:sub") == 1 end))
        call(b, "publish", { channel = "cl:sub", event = "e", data = { n = 1 } })
        assert.truthy(H.wait(function() return phx:find(function(m) return m[3] == "cl:sub" end) end))
        status, body = call(b, "disconnect", { user = "bo", code = 4000, reason = "bye" })
        assert.equal(200, status)
        assert.same({ disconnected = 2, nodes = 1 }, body.result)
        assert.same({ code = 4000, reason = "bye" }, c:wait_closed())
        assert.is_true(wait_until(function() return phx.state == "closed" end))
        assert.equal(4000, phx.code)
    end)

    it("adds up every node's counts, and says so when a node did not answer", function()
        local a, b = two()
        native(a, "/c/cl:4?user=cy")
        native(b, "/c/cl:4?user=cy")
        assert.is_true(wait_until(function() return b.hub:connection_count("cl:4") == 2 end))
        local status, body = call(b, "unsubscribe", { user = "cy", channel = "cl:4" })
        assert.equal(200, status)
        assert.same({ unsubscribed = 2, nodes = 1 }, body.result)
        -- a node that hears no notes (a hub without a server): the answer
        -- comes at the deadline, with what the others said
        local mute = fx.hub("api-mute")
        assert.is_true(R.connected(a.hub, b.hub, mute))
        assert.is_true(wait_until(function() return b.hub:cluster_stats().nodes == 2 end))
        native(a, "/c/cl:5?user=cy")
        assert.is_true(wait_until(function() return b.hub:connection_count("cl:5") == 1 end))
        status, body = call(b, "disconnect", { user = "cy" })
        assert.equal(200, status)
        assert.same({ disconnected = 1, nodes = 1, partial = true }, body.result)
    end)
end)

describe("server API history in a cluster", function()
    local fx = R.fixture()
    setup(fx.start)
    teardown(fx.stop)
    after_each(fx.close_all)

    local function node(name, timeout)
        return fx.listen(name, { history = 100, api = { keys = { [KEY] = true }, timeout = timeout } })
    end

    local function call(s, method, body)
        local r = http.request(s.port, "POST", "/api/" .. method, { ["X-API-Key"] = KEY },
            cjson.encode(body))
        return r.status, r.json
    end

    -- n messages published on a (where a client follows the channel)
    local function publish(a, channel, n)
        local c = support.raw(a:url("/c/" .. channel))
        assert.is_true(c:wait_open())
        fx.later(function() c:close() end)
        for i = 1, n do
            assert.equal(200, (call(a, "publish", { channel = channel, event = "n", data = { i = i } })))
        end
        assert.is_true(wait_until(function() return #c:of_type("n") == n end))
    end

    local function data(messages)
        local out = {}
        for _, m in ipairs(messages) do
            out[#out + 1] = m.data.i
        end
        return out
    end

    it("reads from Redis on a node that does not follow the channel", function()
        local a, b = node("h-a"), node("h-b")
        assert.is_true(R.connected(a.hub, b.hub))
        publish(a, "hist:1", 5)
        assert.equal(0, #core_history(b, "hist:1"))   -- b holds none of it
        local status, body = call(b, "history", { channel = "hist:1" })
        assert.equal(200, status)
        assert.same({ 1, 2, 3, 4, 5 }, data(body.result.messages))
        assert.equal(5, body.result.offset)
        assert.equal(body.result.messages[5].id, body.result.position)
        status, body = call(b, "history", { channel = "hist:1", limit = 2 })
        assert.equal(200, status)
        assert.same({ 4, 5 }, data(body.result.messages))
        local second = body.result.messages[1].id
        status, body = call(b, "history", { channel = "hist:1", since = second, limit = 10 })
        assert.equal(200, status)
        assert.same({ 5 }, data(body.result.messages))
        status, body = call(b, "history", { channel = "hist:1", since = "1-2", limit = 1 })
        assert.equal(409, status)
        assert.equal("unrecoverable_position", body.error.code)
        status, body = call(b, "history", { channel = "hist:none" })
        assert.equal(200, status)
        assert.same({ messages = {}, offset = 0 }, body.result)
    end)

    it("answers 504 when Redis does not answer, and outlives a client that left", function()
        local a, b = node("h-c", 0.3), node("h-d", 0.3)
        assert.is_true(R.connected(a.hub, b.hub))
        publish(a, "hist:2", 1)
        local pid = assert(support.readfile(R.pidfile(fx.redis.port))):match("%d+")
        os.execute("kill -STOP " .. pid)
        fx.later(function() os.execute("kill -CONT " .. pid) end)
        local status, body = call(b, "history", { channel = "hist:2" })
        assert.equal(504, status)
        assert.equal("timeout", body.error.code)
        -- a client that goes before the answer: the server goes on
        local gone = http.open(b.port, "POST", "/api/history", { ["X-API-Key"] = KEY },
            cjson.encode({ channel = "hist:2" }))
        settle(0.05)
        gone:close()
        settle(0.5)
        os.execute("kill -CONT " .. pid)
        assert.is_true(R.connected(a.hub, b.hub))
        status, body = call(b, "history", { channel = "hist:2" })
        assert.equal(200, status)
        assert.same({ 1 }, data(body.result.messages))
    end)

    it("answers from this node's copy when Redis is down", function()
        local a = node("h-e")
        assert.is_true(R.connected(a.hub))
        publish(a, "hist:3", 2)
        fx.redis:kill()
        fx.later(function() fx.redis:launch() end)
        assert.is_true(wait_until(function() return not a.hub:cluster_stats().connected end))
        -- the outage starts a local history (what came before is Redis's)
        assert.equal(200, (call(a, "publish", { channel = "hist:3", event = "n", data = { i = 3 } })))
        local status, body = call(a, "history", { channel = "hist:3" })
        assert.equal(200, status)
        assert.same({ 3 }, data(body.result.messages))
    end)
end)

describe("Pusher HTTP API in a cluster", function()
    local fx = R.fixture()
    setup(fx.start)
    teardown(fx.stop)
    after_each(fx.close_all)

    local APP = { id = "77", key = "cl-key", secret = "cl-secret" }

    it("triggers to the other node's clients and counts them", function()
        local a = fx.listen("pa", { pusher = { app_id = APP.id, key = APP.key, secret = APP.secret } })
        local b = fx.listen("pb", { pusher = { app_id = APP.id, key = APP.key, secret = APP.secret } })
        a:on("connect", function(conn, req) conn.member = req.query.user or conn.member end)
        a:channel("presence-*", { join = function() return true end })   -- docs/pusher.md#security
        assert.is_true(R.connected(a.hub, b.hub))
        local c = support.raw(a:url("/c/presence-cl?user=ana"))
        assert.is_true(c:wait_open())
        fx.later(function() c:close() end)
        assert.is_true(wait_until(function() return #b.hub:presence("presence-cl") == 1 end))
        local status, body = sign.call(b.port, APP, "POST", "/events", nil,
            { name = "news", channel = "presence-cl", data = '{"n":1}', info = "subscription_count,user_count" })
        assert.equal(200, status)
        assert.same({ channels = { ["presence-cl"] = { subscription_count = 1, user_count = 1 } } }, body)
        assert.is_true(wait_until(function() return #c:of_type("news") == 1 end))
        assert.same({ n = 1 }, c:of_type("news")[1].message)
        status, body = sign.call(b.port, APP, "GET", "/channels/presence-cl/users")
        assert.equal(200, status)
        assert.same({ users = { { id = "ana" } } }, body)
        status, body = sign.call(b.port, APP, "GET", "/channels", { filter_by_prefix = "presence-" })
        assert.equal(200, status)
        assert.same({ channels = { ["presence-cl"] = {} } }, body)
    end)
end)

describe("webhooks in a cluster", function()
    local fx = R.fixture()
    local sink
    setup(fx.start)
    teardown(fx.stop)
    before_each(function() sink = Sink.new() end)
    after_each(function()
        fx.close_all()
        sink:close()
    end)

    local function node(name)
        local s = fx.listen(name, { webhooks = { url = sink.url, secret = "s" } })
        s:on("connect", function(conn, req) conn.member = req.query.user or conn.member end)
        return s
    end

    -- event name -> list of the nodes that sent it
    local function senders()
        local out = {}
        for _, r in ipairs(sink.requests) do
            for _, ev in ipairs(r.json.events) do
                out[ev.name] = out[ev.name] or {}
                table.insert(out[ev.name], r.json.node)
            end
        end
        return out
    end

    it("sends each event once, from the node it happened on", function()
        local a, b = node("hook-a"), node("hook-b")
        assert.is_true(R.connected(a.hub, b.hub))
        local on_a = support.raw(a:url("/c/wh:1?user=ana"))
        assert.is_true(on_a:wait_open())
        assert.is_true(wait_until(function() return #b.hub:presence("wh:1") == 1 end))
        local on_b = support.raw(b:url("/c/wh:1?user=ana"))
        assert.is_true(on_b:wait_open())
        assert.is_true(wait_until(function() return a.hub:connection_count("wh:1") == 2 end))
        on_a:close()
        assert.is_true(wait_until(function() return b.hub:connection_count("wh:1") == 1 end))
        on_b:close()
        assert.is_true(wait_until(function() return senders().channel_vacated ~= nil end))
        settle(0.3)   -- anything sent twice would have come by now
        assert.same({
            channel_occupied = { "hook-a" },
            member_added = { "hook-a" },
            connection_open = { "hook-a", "hook-b" },
            connection_close = { "hook-a", "hook-b" },
            member_removed = { "hook-b" },
            channel_vacated = { "hook-b" },
        }, (function()
            local s = senders()
            for _, list in pairs(s) do
                table.sort(list)
            end
            return s
        end)())
    end)
end)
