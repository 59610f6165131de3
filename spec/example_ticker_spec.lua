-- examples/ticker.lua: a counter on `ticker` at a fixed interval, and the
-- live session count re-broadcast whenever a session joins or leaves.
local async = require "async_helpers"
local ticker = require "examples.ticker"

describe("examples/ticker.lua", function()
    local app, clients

    before_each(function()
        app = assert(ticker.start({ port = 0, interval = 0.05 }))
        clients = {}
    end)

    after_each(function()
        async.cleanup(clients, { app })
    end)

    local function watch()
        local rec = async.client(app.port, "/c/ticker", {})
        clients[#clients + 1] = rec
        return rec
    end

    it("broadcasts an increasing counter", function()
        local w = watch()
        assert.truthy(async.wait_for(function() return #async.of_type(w, "tick") >= 3 end))
        local ticks = async.of_type(w, "tick")
        for i = 2, #ticks do
            assert.equal(ticks[i - 1].count + 1, ticks[i].count)
        end
        assert.truthy(ticks[#ticks].count <= app.count())
    end)

    it("re-broadcasts the session count on every join and leave", function()
        local a = watch()
        assert.truthy(async.wait_for(function()
            local s = async.last(a, "sessions")
            return s and s.count == 1
        end))
        local b = watch()
        assert.truthy(async.wait_for(function()
            local sa, sb = async.last(a, "sessions"), async.last(b, "sessions")
            return sa.count == 2 and sb and sb.count == 2
        end))
        b.c:close()
        assert.truthy(async.wait_for(function() return async.last(a, "sessions").count == 1 end))
    end)

    it("is listen-only: a client's send gets an error event and reaches nobody", function()
        local a, b = watch(), watch()
        assert.truthy(async.wait_for(function() return a.opened and b.opened end))
        a.c:send({ count = -1 })
        assert.truthy(async.wait_for(function() return #async.of_type(a, "error") == 1 end))
        assert.equal("publish not allowed: ticker is listen-only", async.of_type(a, "error")[1].message)
        local seen = #async.of_type(b, "tick")
        assert.truthy(async.wait_for(function() return #async.of_type(b, "tick") >= seen + 2 end))
        for _, e in ipairs(b.events) do
            assert.are_not.equal(-1, e.count)
        end
    end)

    -- (what it shows in a browser: spec/browser_pages_spec.lua)
    it("has a page that follows ticker over SSE, falling back to the WebSocket", function()
        local f = assert(io.open("examples/public/ticker.html"))
        local html = f:read("*a")
        f:close()
        assert.truthy(html:find('protocol: "sse", channel: "ticker"', 1, true))
        assert.truthy(html:find('fallback: "native"', 1, true))
    end)
end)
