-- The native protocol (docs/protocols.md#native-protocol): what an itty-sockets
-- client sees, frame by frame, against an in-process server.
local sb = require "switchboard"
local support = require "support"

local raw, wait_until, keys = support.raw, support.wait_until, support.keys

describe("native protocol", function()
    local server

    before_each(function()
        server = assert(sb.listen{ port = 0 })
    end)

    after_each(function()
        server:close()
        support.settle(0.02)
    end)

    local function url(path)
        return server:url(path)
    end

    it("sends the joiner its own join with uid, alias, self and the count", function()
        local a = raw(url("/c/my-room?as=alice&announce=true&echo=true"))
        local f = a:wait_frames(1)[1]
        assert.same("join", f.type)
        assert.same(1, f.users)
        assert.same(1, f.total)
        assert.same("alice", f.alias)
        assert.is_true(f.self)
        assert.matches("^%w+$", f.uid)
        assert.is_number(f.date)
        assert.same("alias,date,self,total,type,uid,users", keys(f))
        a:close()
    end)

    it("announces a join to everyone, with uid and alias only when announced", function()
        local a = raw(url("/c/my-room?as=alice&announce=true"))
        a:wait_frames(1)
        local b = raw(url("/c/my-room?alias=bob&announce=true"))
        local bj = b:wait_frames(1)[1]
        local aj = a:wait_frames(2)[2]
        assert.same({ "join", 2, "bob" }, { aj.type, aj.users, aj.alias })
        assert.same(bj.uid, aj.uid)
        assert.is_nil(aj.self)
        local c = raw(url("/c/my-room"))
        c:wait_frames(1)
        local quiet = a:wait_frames(3)[3]
        assert.same("join", quiet.type)
        assert.same(3, quiet.users)
        assert.is_nil(quiet.uid)
        assert.is_nil(quiet.alias)
        a:close() b:close() c:close()
    end)

    it("sends no join or leave events to others with presence_events = false", function()
        server:close()
        server = assert(sb.listen{ port = 0, presence_events = false })
        local a = raw(url("/c/quiet"))
        local self_join = a:wait_frames(1)[1]
        assert.same({ "join", true }, { self_join.type, self_join.self })
        local b = raw(url("/c/quiet"))
        b:wait_frames(1)
        b:send('"hi"')
        local m = a:wait_frames(2)[2]
        assert.same("hi", m.message)
        b:close()
        support.settle(0.1)
        assert.same(2, #a.frames)
        a:close()
    end)

    it("relays a message to the others as an envelope, never back to the sender", function()
        local a = raw(url("/c/r?as=alice&announce=true"))
        a:wait_frames(1)
        local b = raw(url("/c/r?alias=bob&announce=true"))
        b:wait_frames(1)
        a:wait_frames(2)
        b:send('{"type":"chat","text":"hello"}')
        local m = a:wait_frames(3)[3]
        assert.same("alias,date,message,uid", keys(m))
        assert.same({ type = "chat", text = "hello" }, m.message)
        assert.same("bob", m.alias)
        assert.matches('"message":{"type":"chat","text":"hello"}}$', a.texts[3])
        support.settle(0.05)
        assert.same(1, #b.frames)
        a:close() b:close()
    end)

    it("keeps strings, numbers and arrays exactly as sent", function()
        local a = raw(url("/c/v"))
        local b = raw(url("/c/v"))
        a:wait_frames(2)
        b:wait_frames(1)
        b:send('"plain string"')
        b:send("13")
        b:send("[1,2]")
        a:wait_frames(5)
        assert.matches('"message":"plain string"}$', a.texts[3])
        assert.matches('"message":13}$', a.texts[4])
        assert.matches('"message":%[1,2%]}$', a.texts[5])
        a:close() b:close()
    end)

    it("echoes to the sender only with echo=true", function()
        local a = raw(url("/c/e?echo=true"))
        a:wait_frames(1)
        a:send('{"n":1}')
        local m = a:wait_frames(2)[2]
        assert.same({ n = 1 }, m.message)
        assert.same(a.frames[1].uid, m.uid)
        a:close()
    end)

    it("delivers direct messages by uid, in both prefix forms, to that member only", function()
        local a = raw(url("/c/dm?as=alice"))
        local b = raw(url("/c/dm?as=bob"))
        local c = raw(url("/c/dm?as=carol"))
        local buid = b:wait_frames(1)[1].uid
        c:wait_frames(1)
        a:wait_frames(3)
        a:send("\31" .. buid .. '\31{"secret":1}')
        a:send("@@" .. buid .. '@@{"secret":2}')
        b:wait_frames(4)
        assert.same({ secret = 1 }, b.frames[3].message)
        assert.same({ secret = 2 }, b.frames[4].message)
        assert.same("alice", b.frames[3].alias)
        support.settle(0.05)
        assert.same(1, #c.frames)
        assert.same(3, #a.frames)
        a:close() b:close() c:close()
    end)

    it("answers an unknown direct-message uid with an error naming it", function()
        local a = raw(url("/c/dm2"))
        a:wait_frames(1)
        a:send('\31nobody\31"x"')
        local e = a:wait_frames(2)[2]
        assert.same("error", e.type)
        assert.matches("nobody", e.message)
        a:close()
    end)

    it("finds a direct message's uid only in the sender's channel, and not after it left", function()
        local a = raw(url("/c/dm3"))
        local other = raw(url("/c/elsewhere"))
        local b = raw(url("/c/dm3"))
        a:wait_frames(1)
        local ouid = other:wait_frames(1)[1].uid
        local buid = b:wait_frames(1)[1].uid
        a:wait_frames(2)   -- b's join
        a:send("\31" .. ouid .. '\31"x"')
        local e = a:wait_frames(3)[3]
        assert.same("error", e.type)
        assert.matches(ouid, e.message)
        b:close()
        assert.is_true(wait_until(function() return server.hub:connection_count("dm3") == 1 end))
        a:send("\31" .. buid .. '\31"y"')
        assert.is_true(wait_until(function()
            local last = a.frames[#a.frames]
            return last.type == "error" and last.message:find(buid, 1, true) ~= nil
        end))
        support.settle(0.05)
        assert.same(1, #other.frames)
        a:close() other:close()
    end)

    it("answers non-JSON with an error event and keeps the connection", function()
        local a = raw(url("/c/bad"))
        local b = raw(url("/c/bad"))
        a:wait_frames(2)
        b:wait_frames(1)
        a:send("undefined")
        local e = a:wait_frames(3)[3]
        assert.same("error", e.type)
        assert.matches("JSON", e.message)
        a:send('{"still":"here"}')
        local m = b:wait_frames(2)[2]
        assert.same({ still = "here" }, m.message)
        assert.is_nil(a.closed)
        a:close() b:close()
    end)

    it("tells the others when a member leaves, with the new count", function()
        local a = raw(url("/c/l?as=alice&announce=true"))
        a:wait_frames(1)
        local b = raw(url("/c/l?alias=bob&announce=true"))
        local buid = b:wait_frames(1)[1].uid
        a:wait_frames(2)
        b:close()
        local f = a:wait_frames(3)[3]
        assert.same({ "leave", 1, buid, "bob" }, { f.type, f.users, f.uid, f.alias })
        a:close()
    end)

    it("relays 1,000 messages in order", function()
        local a = raw(url("/c/order"))
        local b = raw(url("/c/order"))
        a:wait_frames(2)
        b:wait_frames(1)
        for i = 1, 1000 do
            b:send(tostring(i))
        end
        a:wait_frames(1002, 10)
        local ok = true
        for i = 1, 1000 do
            ok = ok and a.frames[i + 2].message == i
        end
        assert.is_true(ok)
        a:close() b:close()
    end)

    it("delivers back-to-back frames of every length encoding intact and in order", function()
        local a = raw(url("/c/sizes"))
        a:wait_frames(1)
        local sizes = { 5, 125, 126, 300, 65535, 70000, 3, 1 }
        for i, n in ipairs(sizes) do
            server.hub:publish("sizes", "message", string.rep(string.char(96 + i), n))
        end
        a:wait_frames(1 + #sizes)
        for i, n in ipairs(sizes) do
            assert.same(string.rep(string.char(96 + i), n), a.frames[i + 1].message)
        end
        a:close()
    end)

    it("closes a connection that sends an oversize message with 1009; others go on", function()
        server:close()
        server = assert(sb.listen{ port = 0, max_message = 1024 })
        local a = raw(url("/c/big"))
        local b = raw(url("/c/big"))
        a:wait_frames(2)
        b:wait_frames(1)
        b:send('"' .. string.rep("x", 2000) .. '"')
        assert.same(1009, b:wait_closed().code)
        local c = raw(url("/c/big"))
        c:wait_frames(1)
        c:send('"after"')
        assert.truthy(wait_until(function()
            local last = a.frames[#a.frames]
            return last and last.message == "after"
        end))
        a:close() c:close()
    end)

    it("makes each connection a hub member of its channel", function()
        local joins = {}
        server.hub:on("presence:join", function(ch, member) joins[#joins + 1] = ch .. "/" .. member end)
        local a = raw(url("/c/hubbed"))
        local uid = a:wait_frames(1)[1].uid
        assert.same({ "hubbed/" .. uid }, joins)
        assert.same({ uid }, server.hub:presence("hubbed"))
        assert.same(1, server.hub:connection_count("hubbed"))
        a:close()
        assert.truthy(wait_until(function() return server.hub:connection_count("hubbed") == 0 end))
    end)

    it("delivers hub:publish to native clients as a server event or a server message", function()
        local a = raw(url("/c/pub"))
        a:wait_frames(1)
        assert.same(1, server.hub:publish("pub", "tick", { n = 1 }))
        server.hub:publish("pub", "message", "hi")
        a:wait_frames(3)
        assert.same("date,message,type", keys(a.frames[2]))
        assert.same({ "tick", { n = 1 } }, { a.frames[2].type, a.frames[2].message })
        assert.same({ "server", "hi" }, { a.frames[3].uid, a.frames[3].message })
        a:close()
    end)

    it("refuses an upgrade the connect hook rejects with HTTP 403 and its reason", function()
        server:on("connect", function(_, req)
            if req.query.token ~= "good" then
                return false, "bad token"
            end
        end)
        local status, _, body = support.http(server.port,
            "GET /c/x?token=bad HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" ..
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        assert.same(403, status)
        assert.matches("bad token", body)
        local ok = raw(url("/c/x?token=good"))
        assert.is_true(ok:wait_open())
        ok:close()
    end)

    -- An upgrade request after its "GET <path> ", for support.http.
    local UPGRADE = "HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" ..
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

    local function cap_check(opts, refusal)
        server:close()
        server = assert(sb.listen(opts))
        local a = raw(url("/c/cap"))
        local b = raw(url("/c/cap"))
        assert.is_true(a:wait_open() and b:wait_open())
        local status, _, body = support.http(server.port, "GET /c/cap " .. UPGRADE)
        assert.same(503, status)
        assert.matches(refusal, body)
        a:close()
        assert.is_true(wait_until(function() return server.hub:connection_count("cap") == 1 end))
        local c = raw(url("/c/cap"))
        assert.is_true(c:wait_open())
        b:close() c:close()
    end

    it("refuses a connection over max_per_ip with 503 and admits again once one leaves", function()
        cap_check({ port = 0, max_per_ip = 2, limit_loopback = true }, "too many connections from 127%.0%.0%.1")
    end)

    it("does not count loopback peers per address unless limit_loopback is set", function()
        server:close()
        server = assert(sb.listen{ port = 0, max_per_ip = 2, max_connect_rate = 1 })
        local list = {}
        for i = 1, 5 do
            list[i] = raw(url("/c/cap"))
        end
        for i = 1, 5 do
            assert.is_true(list[i]:wait_open())
        end
        for i = 1, 5 do
            list[i]:close()
        end
    end)

    it("refuses new connections over max_connect_rate with 429 and admits them again as the bucket refills", function()
        server:close()
        -- 4/s with a burst of 5 s worth: 20 at once, then one per 250 ms
        server = assert(sb.listen{ port = 0, max_connect_rate = 4, limit_loopback = true })
        local list = {}
        for i = 1, 20 do
            list[i] = raw(url("/c/rate"))
        end
        for i = 1, 20 do
            assert.is_true(list[i]:wait_open())
        end
        local status, _, body = support.http(server.port, "GET /c/rate " .. UPGRADE)
        assert.same(429, status)
        assert.matches("too many new connections from 127%.0%.0%.1", body)
        -- closing does not give the tokens back: the rate is of new ones
        for i = 1, 20 do
            list[i]:close()
        end
        status = support.http(server.port, "GET /c/rate " .. UPGRADE)
        assert.same(429, status)
        local late
        assert.is_true(wait_until(function()
            late = raw(url("/c/rate"))
            local ok = late:wait_open(0.3)
            if not ok then
                late:close()
            end
            return ok
        end, 3), "the bucket never refilled")
        late:close()
    end)

    it("has per-address caps on by default (256 at once, 20/s) that max_per_ip = false turns off", function()
        local d = sb.core.defaults()
        assert.same({ 50000, 256, 20 }, { d.max_connections.value, d.max_per_ip.value, d.max_connect_rate.value })
        server:close()
        server = assert(sb.listen{ port = 0, limit_loopback = true, max_per_ip = false, max_connect_rate = false })
        local list = {}
        for i = 1, 30 do
            list[i] = raw(url("/c/off"))
        end
        for i = 1, 30 do
            assert.is_true(list[i]:wait_open())
        end
        for i = 1, 30 do
            list[i]:close()
        end
    end)

    it("refuses a connection over max_connections with 503 and admits again once one leaves", function()
        cap_check({ port = 0, max_connections = 2 }, "server full")
    end)

    -- A server that takes 20 messages/s (bursts of 5) from each client, and
    -- two clients on `channel` that have their join events.
    local function rate_limited(channel)
        server:close()
        server = assert(sb.listen{ port = 0, max_rate = 20, max_burst = 5 })
        local a = raw(url("/c/" .. channel))
        local b = raw(url("/c/" .. channel))
        a:wait_frames(2)
        b:wait_frames(1)
        return a, b
    end

    it("drops messages over max_rate with one error event, then relays again", function()
        local a, b = rate_limited("rate")
        for i = 1, 8 do
            a:send(tostring(i))
        end
        assert.is_true(wait_until(function() return #a:of_type("error") == 1 end))
        assert.matches("rate limit", a:of_type("error")[1].message)
        support.settle(0.3)          -- the bucket refills at 20/s
        local relayed = #b.frames - 1
        assert.is_true(relayed >= 5 and relayed <= 6, "relayed " .. relayed)
        a:send('"after the flood"')
        assert.is_true(wait_until(function() return b.frames[#b.frames].message == "after the flood" end))
        assert.is_nil(a.closed)
        a:close() b:close()
    end)

    it("closes a connection whose flood goes on with 1008; others go on", function()
        local a, b = rate_limited("flood")
        for i = 1, 40 do
            a:send(tostring(i))
        end
        assert.same(1008, a:wait_closed().code)
        local c = raw(url("/c/flood"))
        c:wait_frames(1)
        c:send('"still here"')
        assert.is_true(wait_until(function() return b.frames[#b.frames].message == "still here" end))
        b:close() c:close()
    end)

    it("refuses bad channel names with 400 and unknown paths with 404", function()
        assert.same(400, (support.http(server.port, "GET /c/bad%20name " .. UPGRADE)))
        assert.same(404, (support.http(server.port, "GET /nowhere " .. UPGRADE)))
    end)
end)
