-- The Lua client (itty-sockets shape): lazy open, queue while offline,
-- routing by event, message type and filter, direct messages, push, and
-- reconnection with backoff that keeps listeners and the queue.
local sb = require "switchboard"
local support = require "support"

local wait_until = support.wait_until

describe("client", function()
    local server

    before_each(function()
        server = assert(sb.listen{ port = 0 })
    end)

    after_each(function()
        server:close()
        support.settle(0.02)
    end)

    it("opens lazily and flushes what was sent before open, in order", function()
        local got = {}
        local listener = sb.connect(server:url("/c/q")):on("message", function(e)
            got[#got + 1] = e.message
        end)
        assert.is_true(wait_until(function() return server.hub:connection_count("q") == 1 end))
        local c = sb.connect(server:url("/c/q"))
        assert.is_false(c:is_open())
        c:send(1):send(2):send({ three = 3 })
        assert.is_true(wait_until(function() return #got == 3 end))
        assert.same({ 1, 2, { three = 3 } }, got)
        c:close() listener:close()
    end)

    it("routes by envelope type, message type, 'message' and filters, as itty-sockets does", function()
        local seen = {}
        local a = sb.connect(server:url("/c/route"), { alias = "alice" })
        a:on("join", function(e) seen[#seen + 1] = "join:" .. e.users end)
        a:on("chat", function(e) seen[#seen + 1] = "chat:" .. e.text .. ":" .. e.alias end)
        a:on("message", function(e) seen[#seen + 1] = "message:" .. tostring(e.type or e.message) end)
        a:on(function(e) return type(e.message) == "number" and e.message > 10 end,
            function(e) seen[#seen + 1] = "big:" .. e.message end)
        assert.is_true(wait_until(function() return #seen >= 1 end))
        local b = sb.connect(server:url("/c/route"), { alias = "bob" })
        b:send({ type = "chat", text = "hi" }):send(42)
        assert.is_true(wait_until(function() return #seen >= 6 end))
        assert.same({ "join:1", "join:2", "chat:hi:bob", "message:chat", "message:42", "big:42" }, seen)
        a:close() b:close()
    end)

    it("sends direct messages by uid", function()
        local uid, got
        local a = sb.connect(server:url("/c/dm"))
        a:on("join", function(e) if e.self then uid = e.uid end end)
        a:on("message", function(e) got = e end)
        assert.is_true(wait_until(function() return uid ~= nil end))
        local b = sb.connect(server:url("/c/dm"), { alias = "bob" })
        b:send("psst", uid)
        assert.is_true(wait_until(function() return got ~= nil end))
        assert.same({ "psst", "bob" }, { got.message, got.alias })
        a:close() b:close()
    end)

    it("push sends then closes", function()
        local got
        local a = sb.connect(server:url("/c/push")):on("message", function(e) got = e.message end)
        assert.is_true(wait_until(function() return server.hub:connection_count("push") == 1 end))
        local closed
        sb.connect(server:url("/c/push")):on("close", function() closed = true end):push("bye")
        assert.is_true(wait_until(function() return got == "bye" and closed end))
        assert.is_true(wait_until(function() return server.hub:connection_count("push") == 1 end))
        a:close()
    end)

    it("remove() stops a listener", function()
        local n = 0
        local function count() n = n + 1 end
        local a = sb.connect(server:url("/c/rm")):on("message", count)
        assert.is_true(wait_until(function() return server.hub:connection_count("rm") == 1 end))
        local b = sb.connect(server:url("/c/rm"))
        b:send(1)
        assert.is_true(wait_until(function() return n == 1 end))
        a:remove("message", count)
        b:send(2)
        support.settle(0.1)
        assert.same(1, n)
        a:close() b:close()
    end)

    it("reconnects after the server goes away, keeping listeners and the queue", function()
        local port = server.port
        local opens, got = 0, {}
        local c = sb.connect(server:url("/c/back"), { backoff = { initial = 0.02, max = 0.1 } })
        c:on("open", function() opens = opens + 1 end)
        assert.is_true(wait_until(function() return opens == 1 end))
        server:close()
        assert.is_true(wait_until(function() return not c:is_open() end))
        c:send("while offline")
        server = assert(sb.listen{ port = port })
        local l = sb.connect(server:url("/c/back")):on("message", function(e) got[#got + 1] = e.message end)
        assert.is_true(wait_until(function() return opens == 2 end, 10))
        assert.is_true(wait_until(function() return #got == 1 end))
        assert.same({ "while offline" }, got)
        c:close() l:close()
    end)

    it("does not reconnect after close()", function()
        local opens = 0
        local c = sb.connect(server:url("/c/stay"), { backoff = { initial = 0.01 } })
        c:on("open", function() opens = opens + 1 end)
        assert.is_true(wait_until(function() return opens == 1 end))
        c:close()
        support.settle(0.2)
        assert.same(1, opens)
    end)

    it("rejects misuse with clear messages", function()
        assert.has_error(function() sb.connect("http://x") end)
        assert.has_error(function() sb.connect(server:url("/c/x")):on("message", "nope") end,
            "client:on: listener must be a function")
    end)
end)
