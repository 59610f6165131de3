-- The Phoenix endpoint on the wire: docs/protocols.md#phoenix-example-session vectors through a
-- raw WebSocket client, the join_ref rules of docs/protocols.md#refs-and-join-refs, limits, binary
-- frames, heartbeat, the handshake refusals, and the one-hub mapping with
-- native clients.
local sb = require "switchboard"
local json = require "switchboard.json"
local H = require "phx_helper"

local LOBBY_WELCOME = '["6","6","room:lobby","phx_reply",{"status":"ok","response":{"welcome":true}}]'

-- A server with the rooms the vectors assume.
local function start(opts)
    opts = opts or {}
    opts.port = 0
    local srv = assert(sb.listen(opts))
    srv.seen = {}
    srv:channel("room:*", {
        join = function(conn, topic, params)
            if topic == "room:secret" then
                return nil, "unauthorized"
            end
            if topic == "room:boom" then
                error("join exploded")
            end
            if params.nick then
                conn.assigns.nick = params.nick
                srv.hub:track(conn, topic, params.nick, { online_at = params.at or 1700000000 })
            end
            return { welcome = true }
        end,
        leave = function(_, topic, why)
            srv.seen[#srv.seen + 1] = topic .. ":" .. why
        end,
        on = {
            new_msg = function(_, topic, payload)
                srv.hub:publish(topic, "new_msg", payload)
                return {}
            end,
            shout = function(conn, topic, payload)
                srv.hub:publish(topic, "shout", payload, { except = conn })
            end,
            ask = function(_, _, payload)
                if payload.fail then
                    return nil, "no way"
                end
                return { answer = 42 }
            end,
            whoami = function(conn)
                return { nick = conn.assigns.nick }
            end,
            crash = function()
                error("channel crash on purpose")
            end,
            kick = function(conn, topic)
                conn:kick(topic)
                return {}
            end,
            upload = function(_, _, payload, info)
                assert(info.binary)
                return payload
            end,
            bin_me = function(conn, topic)
                conn:push(topic, "bin_push", "\1\2\3")
                srv.hub:publish(topic, "bin_bcast", "\9\9", { binary = true })
            end,
            silent = function() end,
            inspect = function(_, _, payload)
                srv.inspected = payload
                return {}
            end,
        },
    })
    return srv
end

describe("phoenix endpoint", function()
    local srv, errors
    before_each(function()
        errors = {}
        sb.onerror(function(where, msg) errors[#errors + 1] = where .. ": " .. msg end)
        srv = start()
    end)
    after_each(function()
        srv:close()
        H.settle(0.05)
        sb.onerror(nil)
    end)

    it("answers heartbeats with the exact ref", function()
        local c = H.open(srv.port)
        c:send('[null,"12","phoenix","heartbeat",{}]')
        assert.equal('[null,"12","phoenix","phx_reply",{"status":"ok","response":{}}]', c:frame(1))
        c:close()
    end)

    it("joins, pushes presence_state after the reply, replies to pushes and broadcasts", function()
        local c = H.open(srv.port, "/socket/websocket?token=abc&user%5Bid%5D=7&vsn=2.0.0")
        c:send('["6","6","room:lobby","phx_join",{"nick":"alice"}]')
        assert.equal(LOBBY_WELCOME, c:frame(1))
        local state = json.decode(c:frame(2))
        assert.same({ "6", json.null, "room:lobby", "presence_state" }, { state[1], state[2], state[3], state[4] })
        assert.equal(1700000000, state[5].alice.metas[1].online_at)
        assert.is_string(state[5].alice.metas[1].phx_ref)
        -- bob arrives: alice sees the diff as a broadcast
        local b = H.open(srv.port)
        b:send('["4","4","room:lobby","phx_join",{"nick":"bob","at":1700000001}]')
        local diff = json.decode(c:frame(3))
        assert.same({ json.null, json.null, "room:lobby", "presence_diff" }, { diff[1], diff[2], diff[3], diff[4] })
        assert.equal(1700000001, diff[5].joins.bob.metas[1].online_at)
        assert.same({}, diff[5].leaves)
        assert.matches('"leaves":{}', c.frames[3].data, 1, true)
        c:send('["6","10","room:lobby","new_msg",{"body":"hi"}]')
        assert.equal('[null,null,"room:lobby","new_msg",{"body":"hi"}]', c:frame(4))
        assert.equal('["6","10","room:lobby","phx_reply",{"status":"ok","response":{}}]', c:frame(5))
        c:close()
        b:close()
    end)

    it("hands handlers the payload as a Lua value decoded once, in C", function()
        local c = H.open(srv.port)
        c:send('["1","1","room:types","phx_join",{}]')
        c:frame(2)
        c:send('["1","2","room:types","inspect",'
            .. '{"n":3,"f":2.5,"list":[1,null,true],"deep":{"x":"\\u00e9"},"empty":[]}]')
        assert.equal('["1","2","room:types","phx_reply",{"status":"ok","response":{}}]', c:frame(3))
        local p = srv.inspected
        assert.equal(3, p.n)
        if math.type then
            assert.equal("integer", math.type(p.n))
        end
        assert.equal(2.5, p.f)
        assert.same({ 1, json.null, true }, p.list)
        assert.equal(json.null, p.list[2])
        assert.equal("\195\169", p.deep.x)
        assert.same({}, p.empty)
        c:close()
    end)

    it("keeps assigns per connection", function()
        local c = H.open(srv.port)
        c:send('["6","6","room:a","phx_join",{"nick":"zed"}]')
        c:send('["6","7","room:a","whoami",{}]')
        assert.equal('["6","7","room:a","phx_reply",{"status":"ok","response":{"nick":"zed"}}]', c:frame(3))
        c:close()
    end)

    it("refuses a join with the reason, again on retry, and answers the leave", function()
        local c = H.open(srv.port)
        c:send('["9","9","room:secret","phx_join",{}]')
        assert.equal('["9","9","room:secret","phx_reply",'
            .. '{"status":"error","response":{"reason":"unauthorized"}}]', c:frame(1))
        c:send('["13","13","room:secret","phx_join",{}]')
        assert.equal('["13","13","room:secret","phx_reply",'
            .. '{"status":"error","response":{"reason":"unauthorized"}}]', c:frame(2))
        c:send('["13","17","room:secret","phx_leave",{}]')
        assert.equal('["13","17","room:secret","phx_reply",{"status":"ok","response":{}}]', c:frame(3))
        c:close()
    end)

    it("answers unknown topics with unmatched topic and a null join_ref", function()
        local c = H.open(srv.port)
        c:send('["6","6","nope:1","phx_join",{}]')
        assert.equal('[null,"6","nope:1","phx_reply",'
            .. '{"status":"error","response":{"reason":"unmatched topic"}}]', c:frame(1))
        c:send('["6","7","nope:1","anything",{}]')
        assert.equal('[null,"7","nope:1","phx_reply",'
            .. '{"status":"error","response":{"reason":"unmatched topic"}}]', c:frame(2))
        c:close()
    end)

    it("replies join crashed when the join raises", function()
        local c = H.open(srv.port)
        c:send('["3","3","room:boom","phx_join",{}]')
        assert.equal('["3","3","room:boom","phx_reply",'
            .. '{"status":"error","response":{"reason":"join crashed"}}]', c:frame(1))
        assert.equal(1, #errors)
        c:close()
    end)

    it("leaves a joined channel: reply, then phx_close, and the leave handler runs", function()
        local c = H.open(srv.port)
        c:send('["6","6","room:lobby","phx_join",{}]')
        c:send('["6","15","room:lobby","phx_leave",{}]')
        assert.equal('["6","15","room:lobby","phx_reply",{"status":"ok","response":{}}]', c:frame(3))
        assert.equal('["6","6","room:lobby","phx_close",{}]', c:frame(4))
        assert.same({ "room:lobby:leave" }, srv.seen)
        c:close()
    end)

    it("handles the client-side duplicate join", function()
        local c = H.open(srv.port)
        c:send('["6","6","room:dup","phx_join",{}]')
        c:send('["6","9","room:dup","phx_leave",{}]')
        c:send('["10","10","room:dup","phx_join",{}]')
        assert.equal('["6","9","room:dup","phx_reply",{"status":"ok","response":{}}]', c:frame(3))
        assert.equal('["6","6","room:dup","phx_close",{}]', c:frame(4))
        assert.equal('["10","10","room:dup","phx_reply",{"status":"ok","response":{"welcome":true}}]', c:frame(5))
        c:close()
    end)

    it("closes the old instance on a server-side duplicate join", function()
        local c = H.open(srv.port)
        c:send('["6","6","room:dup","phx_join",{}]')
        c:send('["10","10","room:dup","phx_join",{}]')
        assert.equal('["6","6","room:dup","phx_close",{}]', c:frame(3))
        assert.equal('["10","10","room:dup","phx_reply",{"status":"ok","response":{"welcome":true}}]', c:frame(4))
        -- the new instance answers with the new join_ref
        c:send('["10","11","room:dup","ask",{}]')
        assert.equal('["10","11","room:dup","phx_reply",{"status":"ok","response":{"answer":42}}]', c:frame(6))
        c:close()
    end)

    it("ignores messages with a stale join_ref and accepts a null one", function()
        local c = H.open(srv.port)
        c:send('["6","6","room:x","phx_join",{}]')
        c:send('["5","7","room:x","ask",{}]')
        c:send('["5","8","room:x","phx_leave",{}]')
        c:send('[null,"9","room:x","ask",{}]')
        assert.equal('["6","9","room:x","phx_reply",{"status":"ok","response":{"answer":42}}]', c:frame(3))
        H.settle(0.1)
        assert.equal(3, #c.frames)
        c:close()
    end)

    it("replies ok, error and nothing as the handler decides", function()
        local c = H.open(srv.port)
        c:send('["6","6","room:r","phx_join",{}]')
        c:send('["6","7","room:r","ask",{"fail":true}]')
        assert.equal('["6","7","room:r","phx_reply",{"status":"error","response":{"reason":"no way"}}]', c:frame(3))
        c:send('["6","8","room:r","silent",{}]')
        c:send('["6","9","room:r","nosuch",{}]')
        assert.equal('["6","9","room:r","phx_reply",'
            .. '{"status":"error","response":{"reason":"unhandled event"}}]', c:frame(4))
        c:close()
    end)

    it("errors a crashing channel, accepts the rejoin, then kicks", function()
        local c = H.open(srv.port)
        c:send('["6","6","room:c","phx_join",{}]')
        c:send('["6","7","room:c","crash",{}]')
        assert.equal('["6","6","room:c","phx_error",{"reason":"channel_crash"}]', c:frame(3))
        c:send('["9","9","room:c","phx_join",{}]')
        assert.equal('["9","9","room:c","phx_reply",{"status":"ok","response":{"welcome":true}}]', c:frame(4))
        c:send('["9","10","room:c","kick",{}]')
        assert.equal('["9","9","room:c","phx_close",{}]', c:frame(6))
        assert.same({ "room:c:crash", "room:c:kick" }, srv.seen)
        c:close()
    end)

    it("broadcast_from reaches the others but not the sender", function()
        local a, b = H.open(srv.port), H.open(srv.port)
        a:send('["1","1","room:s","phx_join",{}]')
        b:send('["2","2","room:s","phx_join",{}]')
        b:frame(2)
        a:send('["1","3","room:s","shout",{"x":1}]')
        assert.equal('[null,null,"room:s","shout",{"x":1}]', b:frame(3))
        H.settle(0.1)
        assert.equal(2, #a.frames)
        a:close()
        b:close()
    end)

    it("speaks the binary frame kinds both ways", function()
        local c = H.open(srv.port)
        c:send('["6","6","room:lobby","phx_join",{}]')
        c:frame(2)
        c:send(H.unhex("00 01 02 0a 06 36 3131 726f6f6d3a6c6f626279 75706c6f6164 dead"), true)
        local data, binary = c:frame(3)
        assert.is_true(binary)
        assert.equal("0101020a0236313172" .. "6f6f6d3a6c6f626279" .. "6f6b" .. "dead", H.hex(data))
        c:send('["6","12","room:lobby","bin_me",{}]')
        data, binary = c:frame(4)
        assert.is_true(binary)
        assert.equal("00010a0836726f6f6d3a6c6f62627962696e5f70757368010203", H.hex(data))
        data, binary = c:frame(5)
        assert.is_true(binary)
        assert.equal("020a09726f6f6d3a6c6f62627962696e5f62636173740909", H.hex(data))
        c:close()
    end)

    it("refuses an unsupported vsn with 403", function()
        local c = H.raw(srv.port, "/socket/websocket?vsn=3.0.0")
        H.wait(function() return c.state ~= "connecting" end)
        assert.are_not.equal("open", c.state)
    end)

    for _, path in ipairs({ "/socket/websocket?vsn=1.0.0", "/socket/websocket" }) do
        it("speaks V1 objects for " .. path, function()
            local c = H.open(srv.port, path)
            c:send('{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}')
            assert.equal('{"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok",'
                .. '"response":{"welcome":true}},"ref":"1"}', c:frame(1))
            assert.equal('{"topic":"room:lobby","event":"presence_state","payload":{},"ref":null}', c:frame(2))
            c:send('{"topic":"room:lobby","event":"new_msg","payload":{"body":"hi"},"ref":"2"}')
            assert.equal('{"topic":"room:lobby","event":"new_msg","payload":{"body":"hi"},"ref":null}', c:frame(3))
            assert.equal('{"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok",'
                .. '"response":{}},"ref":"2"}', c:frame(4))
            c:send('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"3"}')
            assert.equal('{"topic":"phoenix","event":"phx_reply","payload":{"status":"ok",'
                .. '"response":{}},"ref":"3"}', c:frame(5))
            -- binary content cannot reach a V1 client: nothing is sent
            srv.hub:publish("room:lobby", "bin", "\1", { binary = true })
            c:send('{"topic":"room:lobby","event":"phx_leave","payload":{},"ref":"4"}')
            assert.equal('{"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok",'
                .. '"response":{}},"ref":"4"}', c:frame(6))
            assert.equal('{"topic":"room:lobby","event":"phx_close","payload":{},"ref":"1"}', c:frame(7))
            c:close()
        end)
    end

    it("refuses at the handshake when the connect hook says no, and sees params", function()
        local got
        srv:on("connect", function(_, req)
            got = req.query
            if req.query.token ~= "abc" then
                return false, "bad token"
            end
        end)
        local c = H.raw(srv.port, "/socket/websocket?token=nope&vsn=2.0.0")
        H.wait(function() return c.state ~= "connecting" end)
        assert.are_not.equal("open", c.state)
        assert.matches("not 101", c.error or "")
        c = H.open(srv.port, "/socket/websocket?token=abc&user%5Bid%5D=7&vsn=2.0.0&")
        assert.equal("7", got["user[id]"])
        c:close()
    end)

    it("selects phoenix for the authToken subprotocol and exposes the token", function()
        local token
        srv:on("connect", function(_, req) token = req.token end)
        local c = H.open(srv.port, nil, { protocols = "phoenix,base64url.bearer.phx.bXktc2VjcmV0" })
        assert.equal("my-secret", token)
        c:close()
        c = H.open(srv.port)
        assert.is_nil(token)
        c:close()
    end)

    it("limits the channels per connection", function()
        srv:close()
        srv = start({ max_channels = 2 })
        local c = H.open(srv.port)
        c:send('["1","1","room:1","phx_join",{}]')
        c:send('["2","2","room:2","phx_join",{}]')
        c:send('["3","3","room:3","phx_join",{}]')
        assert.equal('["3","3","room:3","phx_reply",'
            .. '{"status":"error","response":{"reason":"too many channels joined"}}]', c:frame(5))
        c:close()
    end)

    it("allows more than the default 100 channels when configured", function()
        srv:close()
        srv = start({ max_channels = 150 })
        local c = H.open(srv.port)
        for i = 1, 120 do
            c:send(('["%d","%d","room:%d","phx_join",{}]'):format(i, i, i))
        end
        assert.equal('["120","120","room:120","phx_reply",{"status":"ok","response":{"welcome":true}}]', c:frame(239))
        c:close()
    end)

    it("checks Origin against the allow-list (missing Origin allowed)", function()
        srv:close()
        srv = start({ origins = { "http://ok.example", "//*.good.example" } })
        local function try(origin)
            local c = H.raw(srv.port, "/socket/websocket?vsn=2.0.0", { origin = origin })
            H.wait(function() return c.state ~= "connecting" end)
            local ok = c.state == "open"
            c:close()
            return ok
        end
        assert.is_true(try(nil))
        assert.is_true(try("ok.example"))
        assert.is_true(try("a.good.example"))
        assert.is_false(try("evil.example"))
        assert.is_false(try("good.example.evil"))
    end)

    it("serves other mounts", function()
        srv:close()
        srv = start({ phoenix = { "/live", "/socket/" } })
        H.open(srv.port, "/live/websocket?vsn=2.0.0"):close()
        H.open(srv.port, "/socket/websocket?vsn=2.0.0"):close()
        local c = H.raw(srv.port, "/other/websocket?vsn=2.0.0")
        H.wait(function() return c.state ~= "connecting" end)
        assert.are_not.equal("open", c.state)
    end)

    it("closes an idle socket after phoenix_timeout; heartbeats keep it open", function()
        srv:close()
        srv = start({ phoenix_timeout = 1 })
        local idle, busy = H.open(srv.port), H.open(srv.port)
        local n = 0
        local t = sb.every(0.3, function()
            n = n + 1
            busy:send(('[null,"%d","phoenix","heartbeat",{}]'):format(n))
        end)
        assert.truthy(H.wait(function() return idle.state == "closed" end, 4))
        H.settle(1.5)
        t:cancel()
        assert.equal("open", busy.state)
        assert.truthy(#busy.frames >= 5)
        busy:close()
    end)

    it("drops presence and runs leave handlers when the socket goes", function()
        local a, b = H.open(srv.port), H.open(srv.port)
        a:send('["1","1","room:p","phx_join",{"nick":"ann"}]')
        b:send('["2","2","room:p","phx_join",{"nick":"ben"}]')
        b:frame(2)
        a:frame(3)
        a:close()
        local diff = json.decode(b:frame(3))
        assert.equal("presence_diff", diff[4])
        assert.truthy(diff[5].leaves.ann)
        assert.same({ "room:p:closed" }, srv.seen)
        assert.same({ "ben" }, (function()
            local keys = {}
            for k in pairs(srv.hub:presence_state("room:p")) do keys[#keys + 1] = k end
            return keys
        end)())
        b:close()
    end)
end)

describe("one hub, two protocols", function()
    local srv
    before_each(function()
        srv = start()
    end)
    after_each(function()
        srv:close()
        H.settle(0.05)
    end)

    it("native messages reach Phoenix as event message, Phoenix broadcasts reach native", function()
        local p = H.open(srv.port)
        p:send('["1","1","room:mix","phx_join",{}]')
        p:frame(2)
        local n = H.open(srv.port, "/c/room:mix?alias=Kev")
        local hello = json.decode(n:frame(1))
        assert.equal("join", hello.type)
        n:send('{"text":"from native"}')
        local m = json.decode(p:frame(3))
        assert.same({ json.null, json.null, "room:mix", "message" }, { m[1], m[2], m[3], m[4] })
        assert.equal("Kev", m[5].alias)
        assert.is_string(m[5].uid)
        assert.is_number(m[5].date)
        assert.same({ text = "from native" }, m[5].message)
        p:send('["1","2","room:mix","new_msg",{"body":"from phoenix"}]')
        local e = json.decode(n:frame(2))
        assert.equal("new_msg", e.type)
        assert.same({ body = "from phoenix" }, e.message)
        assert.is_number(e.date)
        -- a server publish of a non-object reaches Phoenix wrapped
        srv.hub:publish("room:mix", "note", "plain")
        assert.equal(4, #p.frames - 1)
        local w = json.decode(p:frame(6))
        assert.same({ "note", { message = "plain" } }, { w[4], w[5] })
        p:close()
        n:close()
    end)
end)
