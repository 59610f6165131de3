-- Graceful shutdown (issue 8): server:close() first sends what is queued,
-- then closes native clients with 1001 "going away", Phoenix clients with
-- the same reconnectable code (their client reconnects and rejoins), and
-- ends SSE streams with the last chunk of the body.  The messages are
-- published in the same turn as the close, so they are still queued when
-- it starts: a close that dropped the queue would lose them.
local sb = require "switchboard"
local json = require "switchboard.json"
local support = require "support"
local H = require "phx_helper"
local http = require "http_helper"

local N = 100

describe("server:close()", function()
    local server

    before_each(function()
        server = assert(sb.listen{ port = 0 })
        server:channel("room:*", {})
    end)

    after_each(function()
        server:close()
        support.settle(0.05)
    end)

    local function publish_and_close(channel)
        for i = 1, N do
            server.hub:publish(channel, "tick", { n = i })
        end
        server:close()
    end

    it("flushes queued frames to native clients, then closes with 1001", function()
        local c = support.raw(server:url("/c/bye"))
        c:wait_frames(1)
        publish_and_close("bye")
        local closed = c:wait_closed()
        assert.same({ 1001, "server closing" }, { closed and closed.code, closed and closed.reason })
        local ticks = c:of_type("tick")
        assert.same(N, #ticks)
        assert.same(N, ticks[N].message.n)
    end)

    it("flushes queued frames to Phoenix clients, then closes with 1001", function()
        local c = H.open(server.port)
        c:send('["1","1","room:bye","phx_join",{}]')
        c:frame(2)   -- the reply and presence_state
        publish_and_close("room:bye")
        assert.truthy(H.wait(function() return c.state == "closed" end))
        assert.same(1001, c.code)
        assert.same(2 + N, #c.frames)
        assert.same({ "tick", { n = N } }, { json.decode(c.frames[2 + N].data)[4],
            json.decode(c.frames[2 + N].data)[5] })
    end)

    it("lets the Lua Phoenix client reconnect and rejoin after a 1001", function()
        local port = server.port
        local sock = sb.phoenix.socket(("ws://127.0.0.1:%d/socket"):format(port), {},
            { reconnect_after = function() return 0.05 end })
        sock:connect()
        local joins, got = 0, {}
        local ch = sock:channel("room:back")
        ch:on("tick", function(p) got[#got + 1] = p.n end)
        ch:join():receive("ok", function() joins = joins + 1 end)
        assert.truthy(H.wait(function() return joins == 1 end))
        publish_and_close("room:back")
        assert.truthy(H.wait(function() return #got == N end))
        -- the old listener goes once its last connection has gone
        assert.truthy(H.wait(function() return not sock:is_connected() end))
        H.settle(0.05)
        server = assert(sb.listen{ port = port })
        server:channel("room:*", {})
        assert.truthy(H.wait(function() return server.hub:connection_count("room:back") == 1 end, 5))
        server.hub:publish("room:back", "tick", { n = N + 1 })
        assert.truthy(H.wait(function() return #got == N + 1 end))
        sock:disconnect()
    end)

    it("sends SSE streams every queued event, then ends the body properly", function()
        local c = http.open(server.port, "GET", "/sse/bye")
        assert.is_true(c:wait(function(x) return x.status == 200 end))
        assert.is_true(http.wait(function() return server.hub:connection_count("bye") == 1 end))
        publish_and_close("bye")
        assert.is_true(c:wait(function(x) return x.ended end))
        local msgs = c:messages()
        assert.same(N, #msgs)
        assert.same({ "tick", '{"n":' .. N .. '}' }, { msgs[N].event, msgs[N].data })
        c:close()
    end)
end)
