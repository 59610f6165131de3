-- The server API (docs/api.md): POST /api/<method> on the server's own
-- port, checked on the wire with raw HTTP (spec/http_helper.lua) and real
-- native, SSE and Phoenix clients in the channels it acts on.
local sb = require "switchboard"
local cjson = require "cjson"
local http = require "http_helper"
local support = require "support"
local H = require "phx_helper"

local wait_until = support.wait_until

local ADMIN, READER = "admin-key-0001", "reader-key-0002"

describe("server API", function()
    local server, port

    setup(function()
        server = assert(sb.listen{
            port = 0, history = 20,
            api = { keys = { [ADMIN] = true,
                [READER] = { "presence", "presence_stats", "channels", "history" } },
                max_body = 2048 },
        })
        port = server.port
        server:on("connect", function(conn, req)
            conn.member = req.query.user or conn.member
        end)
        server:channel("room:*", { join = function() return {} end })
    end)

    teardown(function()
        server:close()
        support.settle(0.05)
    end)

    -- One call: status and decoded body.  body: a table (encoded) or the
    -- raw text; key: nil for the admin key, false for none.
    local function call(method, body, key, headers)
        local h = headers or {}
        if key ~= false then
            h["X-API-Key"] = key or ADMIN
        end
        if type(body) == "table" then
            body = cjson.encode(body)
        end
        local r = http.request(port, "POST", "/api/" .. method, h, body)
        return r.status, r.json, r
    end

    local function native(path)
        local c = support.raw(server:url(path))
        assert.is_true(c:wait_open())
        return c
    end

    local function closed_all(list)
        for _, c in ipairs(list) do
            c:close()
        end
        support.settle(0.05)
    end

    describe("keys and requests", function()
        it("refuses a call without a key, or with a wrong one, with 401", function()
            local status, body = call("presence", { channel = "a" }, false)
            assert.equal(401, status)
            assert.equal("unauthorized", body.error.code)
            assert.matches("X%-API%-Key", body.error.message)
            status, body = call("presence", { channel = "a" }, "not-a-key")
            assert.equal(401, status)
            assert.same({ code = "unauthorized", message = "invalid API key" }, body.error)
            status, body = call("presence", { channel = "a" }, "has space")
            assert.equal(401, status)
            assert.equal("unauthorized", body.error.code)
        end)

        it("takes the key from Authorization: apikey as well", function()
            local status, body = call("presence", { channel = "a" }, false,
                { Authorization = "apikey " .. READER })
            assert.equal(200, status)
            assert.same({ members = {} }, body.result)
            status = call("presence", { channel = "a" }, false, { Authorization = "Bearer " .. READER })
            assert.equal(401, status)
        end)

        it("gives each key only the methods it was given (403)", function()
            local status, body = call("publish", { channel = "a", data = 1 }, READER)
            assert.equal(403, status)
            assert.same({ code = "forbidden", message = "this key may not call publish" }, body.error)
            status = call("history", { channel = "a" }, READER)
            assert.equal(200, status)
        end)

        it("answers an unknown method with 404 and the nearest name", function()
            local status, body = call("publsh", {})
            assert.equal(404, status)
            assert.equal("unknown_method", body.error.code)
            assert.matches("did you mean 'publish'", body.error.message)
            assert.equal(404, http.request(port, "POST", "/api", { ["X-API-Key"] = ADMIN }, "{}").status)
        end)

        it("takes POST only (405)", function()
            local r = http.request(port, "GET", "/api/presence", { ["X-API-Key"] = ADMIN })
            assert.equal(405, r.status)
            assert.equal("method_not_allowed", r.json.error.code)
        end)

        it("refuses bad JSON, a body that is no object and unknown fields (400)", function()
            local status, body = call("publish", '{"channel": "a", ')
            assert.equal(400, status)
            assert.equal("bad_json", body.error.code)
            assert.matches("^invalid JSON at byte %d+", body.error.message)
            status, body = call("publish", "[1, 2]")
            assert.equal(400, status)
            assert.same({ code = "bad_request", message = "the body must be a JSON object" }, body.error)
            status, body = call("publish", { chanel = "a", data = 1 })
            assert.equal(400, status)
            assert.matches("unknown field \"chanel\" %(did you mean 'channel'%?%)", body.error.message)
            status, body = call("presence", { channel = 5 })
            assert.equal(400, status)
            assert.equal("bad_request", body.error.code)
        end)

        it("refuses a bad channel name with bad_channel", function()
            local status, body = call("publish", { channel = "no spaces", data = 1 })
            assert.equal(400, status)
            assert.equal("bad_channel", body.error.code)
            assert.matches("invalid channel name", body.error.message)
            status, body = call("publish", { channels = { "ok", "not ok" }, data = 1 })
            assert.equal(400, status)
            assert.equal("bad_channel", body.error.code)
        end)

        it("refuses a body over api.max_body with 413, then serves the next call", function()
            local r = http.request(port, "POST", "/api/publish", { ["X-API-Key"] = ADMIN },
                cjson.encode({ channel = "a", data = ("x"):rep(4000) }))
            assert.equal(413, r.status)
            assert.same({ code = "body_too_large", message = "body over 2048 bytes" }, r.json.error)
            local status = call("presence", { channel = "a" })
            assert.equal(200, status)
        end)

        it("refuses before reading the body when the key is wrong", function()
            local r = http.request(port, "POST", "/api/publish", { ["X-API-Key"] = "wrong" },
                ("x"):rep(100000))
            assert.equal(401, r.status)
        end)

        it("takes a call without a body as {}", function()
            local r = http.request(port, "POST", "/api/channels", { ["X-API-Key"] = ADMIN })
            assert.equal(200, r.status)
            assert.is_table(r.json.result.channels)
        end)
    end)

    describe("methods", function()
        it("publish reaches the channel's clients and counts them", function()
            local a, b = native("/c/pub:1"), native("/c/pub:2")
            local status, body = call("publish", { channel = "pub:1", event = "news", data = { x = 1 } })
            assert.equal(200, status)
            assert.same({ receivers = 1 }, body.result)
            status, body = call("publish", { channels = { "pub:1", "pub:2", "pub:3" }, data = "hi" })
            assert.equal(200, status)
            assert.same({ receivers = 2, by_channel = { ["pub:1"] = 1, ["pub:2"] = 1, ["pub:3"] = 0 } },
                body.result)
            local function from_server(c)
                for _, f in ipairs(c.frames) do
                    if type(f) == "table" and f.uid == "server" then
                        return f
                    end
                end
            end
            assert.is_true(wait_until(function() return from_server(a) and from_server(b) end))
            assert.same({ x = 1 }, a:of_type("news")[1].message)
            assert.equal("hi", from_server(a).message)
            assert.equal("hi", from_server(b).message)
            status, body = call("publish", { channel = "pub:1" })
            assert.equal(400, status)
            assert.matches("'data' is required", body.error.message)
            closed_all({ a, b })
        end)

        it("broadcast reaches every connection of one member, and nobody else", function()
            local ana1 = native("/c/bc:1?user=ana")
            local ana2 = native("/c/bc:2?user=ana")
            local bob = native("/c/bc:1?user=bob")
            local status, body = call("broadcast", { user = "ana", event = "dm", data = { t = 1 } })
            assert.equal(200, status)
            assert.same({ delivered = 2, channels = 2, forwarded = false }, body.result)
            assert.is_true(wait_until(function()
                return #ana1:of_type("dm") == 1 and #ana2:of_type("dm") == 1
            end))
            support.settle(0.05)
            assert.same({}, bob:of_type("dm"))
            status, body = call("broadcast", { user = "ana", channel = "bc:2", data = 2 })
            assert.equal(200, status)
            assert.same({ delivered = 1, channels = 1, forwarded = false }, body.result)
            status, body = call("broadcast", { user = "nobody", data = 1 })
            assert.equal(200, status)
            assert.same({ delivered = 0, channels = 0, forwarded = false }, body.result)
            -- Centrifugo's broadcast: many channels, no user
            status, body = call("broadcast", { channels = { "bc:1", "bc:2" }, data = 3 })
            assert.equal(200, status)
            assert.equal(3, body.result.receivers)
            closed_all({ ana1, ana2, bob })
        end)

        it("presence and presence_stats count members and connections", function()
            local list = { native("/c/pr:1?user=ana"), native("/c/pr:1?user=ana"),
                native("/c/pr:1?user=bob") }
            local status, body = call("presence", { channel = "pr:1" }, READER)
            assert.equal(200, status)
            assert.same({ members = { "ana", "bob" } }, body.result)
            status, body = call("presence_stats", { channel = "pr:1" }, READER)
            assert.equal(200, status)
            assert.same({ members = 2, connections = 3 }, body.result)
            -- a channel nobody is in is empty, not an error
            local r
            status, body, r = call("presence", { channel = "pr:nobody" }, READER)
            assert.same({}, body.result.members)
            assert.equal(200, status)
            assert.matches('"members":%[%]', r.body)   -- a list, even empty
            status, body = call("presence_stats", { channel = "pr:nobody" }, READER)
            assert.equal(200, status)
            assert.same({ members = 0, connections = 0 }, body.result)
            closed_all(list)
        end)

        it("channels lists the channels with connections, filtered by prefix", function()
            local list = { native("/c/ls:a"), native("/c/ls:b?user=x"), native("/c/ls:b?user=x"),
                native("/c/other") }
            local status, body = call("channels", { prefix = "ls:" }, READER)
            assert.equal(200, status)
            assert.same({ { name = "ls:a", members = 1, connections = 1 },
                { name = "ls:b", members = 1, connections = 2 } }, body.result.channels)
            status, body = call("channels", { prefix = "nothing:" }, READER)
            assert.equal(200, status)
            assert.same({}, body.result.channels)
            closed_all(list)
        end)

        it("history gives the newest messages, or those after a position", function()
            for n = 1, 5 do
                server.hub:publish("hist:1", "tick", { n = n })
            end
            local status, body = call("history", { channel = "hist:1", limit = 2 }, READER)
            assert.equal(200, status)
            local msgs = body.result.messages
            assert.equal(2, #msgs)
            assert.same({ { n = 4 }, { n = 5 } }, { msgs[1].data, msgs[2].data })
            assert.equal("tick", msgs[1].event)
            assert.equal(msgs[2].id, body.result.position)
            local epoch = body.result.position:match("^(%d+)%-")
            status, body = call("history", { channel = "hist:1", since = epoch .. "-3" }, READER)
            assert.equal(200, status)
            assert.equal(2, #body.result.messages)
            assert.same({ n = 4 }, body.result.messages[1].data)
            status, body = call("history", { channel = "hist:1" }, READER)
            assert.equal(200, status)
            assert.equal(5, #body.result.messages)
            status, body = call("history", { channel = "hist:1", since = "1-0" }, READER)
            assert.equal(409, status)
            assert.equal("unrecoverable_position", body.error.code)
            assert.matches("^epoch%-changed", body.error.message)
            status, body = call("history", { channel = "hist:nothing" }, READER)
            assert.equal(200, status)
            assert.same({}, body.result.messages)
            status, body = call("history", { channel = "hist:1", since = "x" }, READER)
            assert.equal(400, status)
            assert.matches("'since' must be a position", body.error.message)
            status, body = call("history", { channel = "hist:1", limit = 0 }, READER)
            assert.equal(400, status)
            assert.matches("'limit' must be a whole number 1..10000", body.error.message)
        end)

        it("disconnect closes every connection of a user, or one by uid", function()
            local a1, a2 = native("/c/dc:1?user=ana"), native("/c/dc:2?user=ana")
            local b = native("/c/dc:1?user=bob")
            local status, body = call("disconnect", { user = "ana", code = 4001, reason = "banned" })
            assert.equal(200, status)
            assert.same({ disconnected = 2 }, body.result)
            assert.same({ code = 4001, reason = "banned" }, a1:wait_closed())
            assert.same({ code = 4001, reason = "banned" }, a2:wait_closed())
            support.settle(0.05)
            assert.is_nil(b.closed)
            local uid
            for _, conn in ipairs(server:connections()) do
                if conn.member == "bob" then
                    uid = conn.uid
                end
            end
            status, body = call("disconnect", { connection = uid })
            assert.equal(200, status)
            assert.same({ disconnected = 1 }, body.result)
            assert.equal(1000, b:wait_closed().code)
            status, body = call("disconnect", { connection = "nobody" })
            assert.equal(404, status)
            assert.equal("not_found", body.error.code)
            status, body = call("disconnect", { user = "x", code = 1006 })
            assert.equal(400, status)
            assert.matches("'code' must be", body.error.message)
            status, body = call("disconnect", { user = "x", connection = "y" })
            assert.equal(400, status)
            assert.matches("not both", body.error.message)
        end)

        it("subscribe makes a user's Phoenix sockets hear a channel; unsubscribe ends it", function()
            local phx = H.open(port, "/socket/websocket?vsn=2.0.0&user=cy")
            local nat = native("/c/sub:own?user=cy")
            local status, body = call("subscribe", { user = "cy", channel = "sub:news" })
            assert.equal(200, status)
            -- the native connection has one channel per URL: skipped
            assert.same({ subscribed = 1, already = 0, skipped = 1 }, body.result)
            assert.same({ "cy" }, server.hub:presence("sub:news"))
            server.hub:publish("sub:news", "headline", { t = "x" })
            local got = H.wait(function()
                return phx:find(function(m) return m[3] == "sub:news" end)
            end)
            assert.same({ cjson.null, cjson.null, "sub:news", "headline", { t = "x" } }, got)
            status, body = call("subscribe", { user = "cy", channel = "sub:news" })
            assert.equal(200, status)
            assert.same({ subscribed = 0, already = 1, skipped = 1 }, body.result)
            status, body = call("unsubscribe", { user = "cy", channel = "sub:news" })
            assert.equal(200, status)
            assert.same({ unsubscribed = 1 }, body.result)
            assert.same({}, server.hub:presence("sub:news"))
            -- a native connection's own channel: unsubscribing closes it
            status, body = call("unsubscribe", { user = "cy", channel = "sub:own" })
            assert.equal(200, status)
            assert.same({ unsubscribed = 1 }, body.result)
            assert.same({ code = 1000, reason = "unsubscribed" }, nat:wait_closed())
            phx.close()
            support.settle(0.05)
        end)

        it("unsubscribe ends a topic a Phoenix socket joined itself, with phx_close", function()
            local phx = H.open(port, "/socket/websocket?vsn=2.0.0&user=dee")
            phx:send('["1","1","room:9","phx_join",{}]')
            assert.truthy(H.wait(function()
                return phx:find(function(m) return m[4] == "phx_reply" and m[5].status == "ok" end)
            end))
            local status, body = call("unsubscribe", { user = "dee", channel = "room:9" })
            assert.equal(200, status)
            assert.same({ unsubscribed = 1 }, body.result)
            assert.truthy(H.wait(function()
                return phx:find(function(m) return m[3] == "room:9" and m[4] == "phx_close" end)
            end))
            phx.close()
            support.settle(0.05)
        end)

        it("a subscription ends with its socket", function()
            local phx = H.open(port, "/socket/websocket?vsn=2.0.0&user=eve")
            call("subscribe", { user = "eve", channel = "sub:gone" })
            assert.same({ "eve" }, server.hub:presence("sub:gone"))
            phx.close()
            assert.is_true(wait_until(function() return #server.hub:presence("sub:gone") == 0 end))
        end)
    end)
end)

describe("server API options", function()
    it("are checked up front", function()
        assert.has_error(function() sb.listen{ port = 0, api = { keys = {} } } end,
            "switchboard.listen: option 'api.keys' names no key: nobody could call the API")
        assert.has_error(function() sb.listen{ port = 0, api = { keys = { k = { "pubish" } } } } end,
            "switchboard.listen: option 'api.keys.k[1]' is \"pubish\", which is no API method "
            .. "(did you mean 'publish'?)")
        assert.has_error(function() sb.listen{ port = 0, api = { keys = { ["a b"] = true } } } end)
        assert.has_error(function() sb.listen{ port = 0, api = { keys = { k = true }, prefix = "/sse" } } end)
        assert.has_error(function() sb.listen{ port = 0, api = { keys = { k = true }, prefix = "api/" } } end)
        assert.has_error(function() sb.listen{ port = 0, api = { keys = { k = false } } } end)
    end)

    it("serve the API under another prefix, and none without the option", function()
        local s = assert(sb.listen{ port = 0, api = { keys = { k = true }, prefix = "/v1/api" } })
        local r = http.request(s.port, "POST", "/v1/api/channels", { ["X-API-Key"] = "k" }, "{}")
        assert.equal(200, r.status)
        r = http.request(s.port, "POST", "/api/channels", { ["X-API-Key"] = "k" }, "{}")
        assert.equal(404, r.status)
        -- an HTTP endpoint has no connections to count
        r = http.request(s.port, "GET", "/metrics")
        assert.matches('switchboard_connections{protocol="sse"} 0', r.body, 1, true)
        assert.is_nil(r.body:find('protocol="api"', 1, true))
        s:close()
        local plain = assert(sb.listen{ port = 0 })
        r = http.request(plain.port, "POST", "/api/channels", { ["X-API-Key"] = "k" }, "{}")
        assert.equal(404, r.status)
        plain:close()
        support.settle(0.05)
    end)
end)
