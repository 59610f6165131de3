-- GET /sse/<channel>, POST /sse/<channel> and /metrics, checked on the wire
-- with raw HTTP (spec/http_helper.lua).
local sb = require "switchboard"
local cjson = require "cjson"
local http = require "http_helper"

describe("SSE transport", function()
    local server, port, refuse_publish, events

    setup(function()
        server = assert(sb.listen{
            host = "127.0.0.1", port = 0, history = 50,
            sse = { keepalive = 0.2, retry = 1500, cors = { "http://ok.example" }, max_body = 1024 },
        })
        port = server.port
        events = {}
        server:on("connect", function(conn, req)
            if req.query.token == "bad" then
                return false, "bad token"
            end
            conn.member = req.query.user or conn.member
        end)
        server:on("publish", function(_, channel, event, payload)
            if refuse_publish then
                return false, ("read only: %s/%s/%d"):format(channel, event, payload.n)
            end
        end)
        server.hub:on("session:join", function(channel, member, conn)
            events[#events + 1] = { "join", channel, member, conn and conn.protocol }
        end)
        server.hub:on("session:leave", function(channel, member)
            events[#events + 1] = { "leave", channel, member }
        end)
    end)

    teardown(function()
        server:close()
        http.wait(function() return false end, 0.05)
    end)

    before_each(function()
        refuse_publish = false
        for i = #events, 1, -1 do
            events[i] = nil
        end
    end)

    it("answers with the event-stream headers, retry: and live events", function()
        local c = http.open(port, "GET", "/sse/room1", { Accept = "text/event-stream" })
        assert.is_true(c:wait(function(x) return #x:events() >= 1 end))
        assert.are.equal(200, c.status)
        assert.are.equal("text/event-stream", c.headers["content-type"])
        assert.are.equal("chunked", c.headers["transfer-encoding"])
        assert.are.equal("no", c.headers["x-accel-buffering"])
        assert.matches("no%-cache", c.headers["cache-control"])
        assert.is_nil(c.headers["content-length"])
        assert.are.equal("1500", c:events()[1].retry)
        assert.are.equal(1, server.hub:connection_count("room1"))
        server.hub:publish("room1", "tick", { n = 1 })
        server.hub:publish("room1", nil, "plain")
        assert.is_true(c:wait(function(x) return #x:messages() >= 2 end))
        local m = c:messages()
        local epoch = m[1].id:match("^(%d+)%-1$")
        assert.is_truthy(epoch)
        assert.are.equal("tick", m[1].event)
        assert.are.same({ n = 1 }, cjson.decode(m[1].data))
        assert.are.equal(epoch .. "-2", m[2].id)
        assert.are.equal("message", m[2].event)
        assert.are.equal('"plain"', m[2].data)
        c:close()
        assert.is_true(http.wait(function() return server.hub:connection_count("room1") == 0 end))
    end)

    it("is a hub connection: session events, member from the connect hook", function()
        local c = http.open(port, "GET", "/sse/room2?user=ann", {})
        assert.is_true(c:wait(function(x) return x.status ~= nil end))
        assert.is_true(http.wait(function() return #events >= 1 end))
        assert.are.same({ "join", "room2", "ann", "sse" }, events[1])
        assert.is_true(server.hub:is_present("room2", "ann"))
        c:close()
        assert.is_true(http.wait(function() return #events >= 2 end))
        assert.are.same({ "leave", "room2", "ann" }, events[2])
    end)

    it("takes its alias from ?alias= or ?as=, as the native endpoint does", function()
        local function open(path)
            local channel = path:match("^/sse/([^?]+)")
            local c = http.open(port, "GET", path, {})
            assert.is_true(c:wait(function(x) return x.status ~= nil end))
            assert.are.equal(200, c.status)
            assert.is_true(http.wait(function() return server.hub:connection_count(channel) == 1 end))
            for _, conn in ipairs(server:connections()) do
                if conn.channel == channel then
                    return c, conn
                end
            end
        end
        local c, conn = open("/sse/named1?alias=bob")
        assert.are.equal("bob", conn.alias)
        -- the alias is what the stream is shown as; presence counts the
        -- member, which only the connect hook chooses (here: the uid)
        assert.are.equal(conn.uid, conn.member)
        assert.are.same({ conn.uid }, server.hub:presence("named1"))
        c:close()
        c, conn = open("/sse/named2?as=cat")
        assert.are.equal("cat", conn.alias)
        c:close()
        c, conn = open("/sse/named3")
        assert.is_nil(conn.alias)
        c:close()
        -- an empty or oversized alias is refused, as at the native handshake
        assert.are.equal(400, http.request(port, "GET", "/sse/named4?alias=").status)
        assert.are.equal(400, http.request(port, "GET", "/sse/named4?as=" .. ("x"):rep(256)).status)
        assert.are.equal(0, server.hub:connection_count("named4"))
    end)

    it("lets the connect hook refuse with 403 and a JSON error", function()
        local c = http.request(port, "GET", "/sse/room3?token=bad")
        assert.are.equal(403, c.status)
        assert.are.same({ error = "bad token" }, c.json)
        assert.are.equal(0, server.hub:connection_count("room3"))
    end)

    it("sends keep-alive comments", function()
        local c = http.open(port, "GET", "/sse/quiet", {})
        assert.is_true(c:wait(function(x)
            for _, ev in ipairs(x:events()) do
                if ev.comment then
                    return true
                end
            end
        end, 3))
        c:close()
    end)

    it("sends data safely when a payload has several lines", function()
        local c = http.open(port, "GET", "/sse/lines", {})
        assert.is_true(c:wait(function(x) return #x:events() >= 1 end))
        -- conn:send on a stream is one event; a raw multi-line text stays intact
        for _, conn in ipairs(server:connections()) do
            if conn.channel == "lines" then
                conn._h:send("one\ntwo\r\nthree", "note")
            end
        end
        assert.is_true(c:wait(function(x) return #x:messages() >= 1 end))
        assert.are.equal("one\ntwo\nthree", c:messages()[1].data)
        assert.are.equal("note", c:messages()[1].event)
        c:close()
    end)

    it("echoes an allowed CORS origin and ignores others", function()
        local ok = http.open(port, "GET", "/sse/cors", { Origin = "http://ok.example" })
        assert.is_true(ok:wait(function(x) return x.status ~= nil end))
        assert.are.equal("http://ok.example", ok.headers["access-control-allow-origin"])
        assert.are.equal("Origin", ok.headers["vary"])
        ok:close()
        local no = http.open(port, "GET", "/sse/cors", { Origin = "http://evil.example" })
        assert.is_true(no:wait(function(x) return x.status ~= nil end))
        assert.is_nil(no.headers["access-control-allow-origin"])
        no:close()
    end)

    it("answers a CORS preflight for fetch-based clients", function()
        local r = http.request(port, "OPTIONS", "/sse/cors", {
            Origin = "http://ok.example", ["Access-Control-Request-Headers"] = "last-event-id" })
        assert.are.equal(204, r.status)
        assert.are.equal("http://ok.example", r.headers["access-control-allow-origin"])
        assert.matches("Last%-Event%-ID", r.headers["access-control-allow-headers"])
        assert.matches("GET", r.headers["access-control-allow-methods"])
    end)

    describe("POST /sse/<channel>", function()
        it("publishes the JSON body with ?event= and answers 202 with the receivers", function()
            local c = http.open(port, "GET", "/sse/news", {})
            assert.is_true(c:wait(function(x) return x.status ~= nil end))
            assert.is_true(http.wait(function() return server.hub:connection_count("news") == 1 end))
            local r = http.request(port, "POST", "/sse/news?event=headline",
                { ["Content-Type"] = "application/json" }, '{"title":"hi"}\n')
            assert.are.equal(202, r.status)
            assert.are.same({ receivers = 1 }, r.json)
            assert.is_true(c:wait(function(x) return #x:messages() >= 1 end))
            assert.are.equal("headline", c:messages()[1].event)
            assert.are.equal('{"title":"hi"}', c:messages()[1].data)
            c:close()
        end)

        it("reaches native WebSocket subscribers", function()
            local got
            local ws = sb.connect(("ws://127.0.0.1:%d/c/mixed"):format(port), { reconnect = false })
            ws:on("headline", function(e) got = e end)
            assert.is_true(http.wait(function() return ws:is_open() end))
            local r = http.request(port, "POST", "/sse/mixed?event=headline", {}, '{"title":"x"}')
            assert.are.equal(202, r.status)
            assert.are.equal(1, r.json.receivers)
            assert.is_true(http.wait(function() return got ~= nil end))
            assert.are.same({ title = "x" }, got.message)
            ws:close()
        end)

        it("reaches Phoenix subscribers", function()
            local phx = require "phx_helper"
            server:channel("phx:*", {})
            local c = phx.open(port, "/socket/websocket?vsn=2.0.0")
            c.ws:send('["1","1","phx:news","phx_join",{}]')
            assert.is_true(http.wait(function() return #c.frames >= 1 end))
            local r = http.request(port, "POST", "/sse/phx:news?event=headline", {}, '{"title":"p"}')
            assert.are.equal(202, r.status)
            assert.are.equal(1, r.json.receivers)
            assert.is_true(http.wait(function()
                for _, f in ipairs(c.frames) do
                    if f.data:find("headline", 1, true) then
                        return true
                    end
                end
            end))
            local last = cjson.decode(c.frames[#c.frames].data)
            assert.are.same({ cjson.null, cjson.null, "phx:news", "headline", { title = "p" } }, last)
            c.ws:close(1000, "")
        end)

        it("answers 400 for bad JSON, 413 over the body limit, 403 when the hook refuses", function()
            local bad = http.request(port, "POST", "/sse/news", {}, '{"title":')
            assert.are.equal(400, bad.status)
            assert.matches("invalid JSON", bad.json.error)
            local big = http.request(port, "POST", "/sse/news", {}, '"' .. ("x"):rep(2000) .. '"')
            assert.are.equal(413, big.status)
            assert.matches("1024", big.json.error)
            refuse_publish = true
            local no = http.request(port, "POST", "/sse/news?event=e", {}, '{"n":5}')
            assert.are.equal(403, no.status)
            assert.are.same({ error = "read only: news/e/5" }, no.json)
            local badev = http.request(port, "POST", "/sse/news?event=", {}, "{}")
            assert.are.equal(400, badev.status)
        end)
    end)

    it("serves Prometheus metrics", function()
        local c = http.open(port, "GET", "/sse/metered", {})
        assert.is_true(c:wait(function(x) return x.status ~= nil end))
        assert.is_true(http.wait(function() return server.hub:connection_count("metered") == 1 end))
        -- streams closed by earlier tests are noticed by their timer
        -- (every 0.2 s here, at most a second by default)
        assert.is_true(http.wait(function() return #server.hub:channels() == 1 end))
        local r = http.request(port, "GET", "/metrics")
        assert.are.equal(200, r.status)
        assert.matches("text/plain", r.headers["content-type"])
        assert.matches('switchboard_connections{protocol="sse"} 1\n', r.body, 1, true)
        assert.matches("switchboard_channels %d+\n", r.body)
        assert.matches("switchboard_messages_published_total %d+\n", r.body)
        assert.matches("switchboard_messages_delivered_total %d+\n", r.body)
        assert.matches("switchboard_recovery_failures_total %d+\n", r.body)
        assert.matches("switchboard_history_messages %d+\n", r.body)
        c:close()
    end)

    it("ends open streams when the server closes", function()
        local other = assert(sb.listen{ host = "127.0.0.1", port = 0 })
        local closed
        other:on("close", function(conn) closed = conn.protocol end)
        local c = http.open(other.port, "GET", "/sse/bye", {})
        assert.is_true(c:wait(function(x) return #x:events() >= 1 end))
        other:close()
        assert.is_true(c:wait(function(x) return x.ended or x.closed end))
        assert.is_true(http.wait(function() return closed ~= nil end))
        assert.are.equal("sse", closed)
        c:close()
    end)
end)

-- channels = { [pattern] = { watchers = true } }: SSE streams that name
-- nobody get the channel's messages without being members of it.
describe("SSE watchers", function()
    local server, joins, presence_events

    before_each(function()
        server = assert(sb.listen{ host = "127.0.0.1", port = 0,
            channels = { ["live:*"] = { watchers = true } } })
        joins, presence_events = {}, {}
        server:on("connect", function(conn, req)
            conn.member = req.query.member   -- nil: the default
        end)
        server:channel("live:*", {
            join = function(conn, topic)
                joins[#joins + 1] = { topic, conn.watcher == true }
                return true
            end,
        })
        server.hub:on("presence:join", function(channel, member)
            presence_events[#presence_events + 1] = { "join", channel, member }
        end)
        server.hub:on("presence:leave", function(channel, member)
            presence_events[#presence_events + 1] = { "leave", channel, member }
        end)
    end)

    after_each(function()
        server:close()
        http.wait(function() return false end, 0.05)
    end)

    local function stream(path)
        local c = http.open(server.port, "GET", path, {})
        assert.is_true(c:wait(function(x) return x.status ~= nil end))
        return c
    end

    local function conn_on(channel)
        for _, conn in ipairs(server:connections()) do
            if conn.channel == channel then
                return conn
            end
        end
    end

    it("streams a channel to a stream that names nobody, which is no member of it", function()
        local hub = server.hub
        local w = stream("/sse/live:1")
        assert.are.equal(200, w.status)
        assert.is_true(http.wait(function() return hub:connection_count("live:1") == 1 end))
        local conn = conn_on("live:1")
        assert.is_true(conn.watcher)
        assert.is_nil(conn.member)
        assert.are.same({ { "live:1", true } }, joins)
        assert.are.same({}, hub:presence("live:1"))
        assert.are.equal(0, hub:member_count("live:1"))
        assert.is_false(hub:is_present("live:1", conn.uid))
        assert.is_false(hub:is_present("live:1", hub.WATCHERS))
        assert.is_nil(hub:member_of("live:1", conn))
        assert.are.same({ { name = "live:1", members = 0, connections = 1 } }, hub:channels())

        -- a stream that names itself is a member as before, next to it
        local named = stream("/sse/live:1?alias=bob&member=bob")
        assert.is_true(http.wait(function() return hub:connection_count("live:1") == 2 end))
        assert.are.same({ "bob" }, hub:presence("live:1"))
        assert.are.same({ { name = "live:1", members = 1, connections = 2 } }, hub:channels())

        hub:publish("live:1", "tick", { n = 1 })
        assert.is_true(w:wait(function(x) return #x:messages() == 1 end))
        assert.are.same({ 1 }, http.ns(w:messages()))
        named:close()
        w:close()
        assert.is_true(http.wait(function() return hub:connection_count("live:1") == 0 end))
        -- bob came and went; the watcher was never announced
        assert.are.same({ { "join", "live:1", "bob" }, { "leave", "live:1", "bob" } }, presence_events)
    end)

    it("makes members of streams with ?user=, ?alias=, ?as= or a member from the hook", function()
        local hub = server.hub
        local streams = {}
        for i, q in ipairs({ "user=u", "alias=a", "as=b", "member=m" }) do
            streams[i] = stream("/sse/live:2?" .. q)
        end
        assert.is_true(http.wait(function() return hub:connection_count("live:2") == 4 end))
        assert.are.equal(4, hub:member_count("live:2"))
        for _, c in ipairs(streams) do
            c:close()
        end
        for _, j in ipairs(joins) do
            assert.is_false(j[2])
        end
    end)

    it("leaves streams of other channels, and other protocols, members", function()
        local hub = server.hub
        local other = stream("/sse/plain")
        local ws = sb.connect(server:url("/c/live:3"), { reconnect = false }):open()
        assert.is_true(http.wait(function()
            return hub:connection_count("plain") == 1 and hub:connection_count("live:3") == 1
        end))
        assert.are.equal(1, hub:member_count("plain"))
        assert.are.equal(1, hub:member_count("live:3"))
        other:close()
        ws:close()
    end)

    it("refuses the reserved member id from a connect hook", function()
        local c = http.request(server.port, "GET", "/sse/live:4?member=" .. server.hub.WATCHERS)
        assert.are.equal(400, c.status)
        assert.are.same({ error = 'member id "(watchers)" is reserved for watchers' }, c.json)
        assert.are.equal(0, server.hub:connection_count("live:4"))
    end)

    it("hides watchers joined by hand in a hub without sockets", function()
        local hub = sb.hub()
        local got = {}
        hub:on("presence:join", function(_, member) got[#got + 1] = member end)
        local w = hub:attach(function(_, event) got[#got + 1] = event end)
        local m = hub:attach(function() end)
        assert.is_false(hub:join("room", hub.WATCHERS, w))
        assert.is_true(hub:join("room", "ana", m))
        assert.are.same({ "ana" }, hub:presence("room"))
        assert.are.equal(2, hub:connection_count("room"))
        hub:publish("room", "hello", {})
        assert.are.same({ "ana", "hello" }, got)
        w:close()
        m:close()
    end)
end)
