-- What a Lua client sees of its own close and of a refused upgrade: the
-- close event carries the code and reason it asked for (and the server's
-- echo), is_open() and send() stop at close(), and a refusal names the
-- HTTP status and the server's reason.
local sb = require "switchboard"
local support = require "support"

local wait_until = support.wait_until

describe("client close", function()
    local server

    before_each(function()
        server = assert(sb.listen{ port = 0 })
    end)

    after_each(function()
        server:close()
        support.settle(0.02)
    end)

    local function opened(path, opts)
        local c = sb.connect(server:url(path), opts)
        local ev = {}
        c:on("open", function() ev.open = true end)
        c:on("close", function(e) ev.close = e end)
        c:on("error", function(e) ev.error = e end)
        assert.is_true(wait_until(function() return ev.open end))
        return c, ev
    end

    it("reports its own close(code, reason), with the server's echo", function()
        local c, ev = opened("/c/bye")
        c:close(1000, "done")
        assert.is_true(wait_until(function() return ev.close ~= nil end))
        assert.same({ 1000, "done" }, { ev.close.code, ev.close.reason })
        assert.same({ 1000, "done" }, { ev.close.peer_code, ev.close.peer_reason })
        assert.is_nil(ev.error)
    end)

    it("reports an application code too", function()
        local c, ev = opened("/c/bye4000")
        c:close(4001, "leaving")
        assert.is_true(wait_until(function() return ev.close ~= nil end))
        assert.same({ 4001, "leaving" }, { ev.close.code, ev.close.reason })
    end)

    it("reports its own code when it closes before the connection opened", function()
        local c = sb.connect(server:url("/c/early"), { reconnect = false })
        local ev
        c:on("close", function(e) ev = e end)
        c:close(4000, "never mind")
        assert.is_true(wait_until(function() return ev ~= nil end))
        assert.same({ 4000, "never mind" }, { ev.code, ev.reason })
        assert.is_false(c:is_open())
    end)

    it("reports the server's code when the server closes, and opens again after close() with open()", function()
        server:on("open", function(conn)
            if conn.channel == "kick" then
                conn:close(4002, "kicked")
            end
        end)
        local c = sb.connect(server:url("/c/kick"), { reconnect = false })
        local ev
        c:on("close", function(e) ev = e end)
        assert.is_true(wait_until(function() return ev ~= nil end))
        assert.same({ 4002, "kicked", 4002 }, { ev.code, ev.reason, ev.peer_code })

        local again, seen = opened("/c/again")
        again:close()
        assert.is_true(wait_until(function() return seen.close ~= nil end))
        seen.open = nil
        again:open()
        assert.is_true(wait_until(function() return seen.open end))
        assert.is_true(again:is_open())
        assert.equal(again, again:send("ok"))
        again:close()
    end)

    it("is not open from the moment close() is called", function()
        local c = opened("/c/isopen")
        assert.is_true(c:is_open())
        c:close(1000, "done")
        assert.is_false(c:is_open())
    end)

    it("refuses send() after close() and queues nothing", function()
        local got = {}
        local listener = sb.connect(server:url("/c/after")):on("message", function(e)
            got[#got + 1] = e.message
        end)
        assert.is_true(wait_until(function() return server.hub:connection_count("after") == 1 end))
        local c, ev = opened("/c/after")
        c:send("before")
        c:close(1000, "done")
        local ok, err = c:send("after")
        assert.is_nil(ok)
        assert.equal("closed", err)
        assert.is_true(wait_until(function() return ev.close ~= nil end))
        -- opened again, it has nothing left over to send
        ev.open = nil
        c:open()
        assert.is_true(wait_until(function() return ev.open end))
        support.settle(0.05)
        assert.same({ "before" }, got)
        c:close()
        listener:close()
    end)

    it("reports the status and the server's reason of a refused upgrade, and does not retry a 401", function()
        local attempts = 0
        server:on("connect", function()
            attempts = attempts + 1
            return false, "token expired", 401
        end)
        local c = sb.connect(server:url("/c/locked"), { backoff = { initial = 0.01 } })
        local ev = {}
        c:on("close", function(e) ev.close = e end)
        c:on("error", function(e) ev.error = e end)
        assert.is_true(wait_until(function() return ev.close ~= nil end))
        assert.same({ 401, "token expired" }, { ev.error.status, ev.error.reason })
        assert.same({ 1006, 401, "token expired" }, { ev.close.code, ev.close.status, ev.close.reason })
        support.settle(0.2)
        assert.equal(1, attempts)
        assert.is_false(c:is_open())
    end)

    it("retries other refusals with backoff", function()
        local attempts = 0
        server:on("connect", function()
            attempts = attempts + 1
            if attempts < 3 then
                return false, "busy", 503
            end
        end)
        local ev = { closes = {} }
        local c = sb.connect(server:url("/c/busy"), { backoff = { initial = 0.01, jitter = 0 } })
        c:on("close", function(e) ev.closes[#ev.closes + 1] = e end)
        c:on("open", function() ev.open = true end)
        assert.is_true(wait_until(function() return ev.open end))
        assert.same({ 503, "busy" }, { ev.closes[1].status, ev.closes[1].reason })
        assert.equal(3, attempts)
        c:close()
    end)
end)
