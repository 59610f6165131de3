-- Lifetimes across the C-to-Lua seam: a server or client keeps itself
-- alive while it can still call back into Lua, and once it is closed and
-- nothing references it, the collector frees it with its hooks (their
-- closures point back at the object, a cycle only user values let the
-- collector see).
local sb = require "switchboard"
local support = require "support"

-- Full collections until `weak` is empty (or a few tried); returns
-- whether it emptied.
local function collected(weak)
    for _ = 1, 4 do
        collectgarbage("collect")
        if next(weak) == nil then
            return true
        end
    end
    return false
end

local function weak_set(...)
    local t = setmetatable({}, { __mode = "k" })
    for i = 1, select("#", ...) do
        t[select(i, ...)] = true
    end
    return t
end

describe("a closed server", function()
    it("is collected once nothing references it", function()
        local server = assert(sb.listen{ port = 0 })
        server:channel("room:*", { join = function() return server ~= nil end })
        local weak = weak_set(server, server._srv)
        server:close()
        support.settle(0.02)
        server = nil   -- luacheck: ignore 311
        assert.is_true(collected(weak))
    end)

    it("is collected after its last connection is gone", function()
        local server = assert(sb.listen{ port = 0 })
        local closes = 0
        server:on("close", function() closes = closes + 1 end)
        local c = support.raw(server:url("/c/lifetime"))
        assert.truthy(c:wait_open())
        local weak = weak_set(server, server._srv)
        server:close()
        assert.truthy(c:wait_closed())
        assert.is_true(support.wait_until(function() return closes == 1 end))
        server, c = nil, nil   -- luacheck: ignore 311
        assert.is_true(collected(weak))
    end)
end)

describe("an open server", function()
    it("keeps serving when the app drops its last reference", function()
        local weak = setmetatable({}, { __mode = "v" })
        weak.server = assert(sb.listen{ port = 0 })
        local url = weak.server:url("/c/kept")
        collectgarbage("collect")
        collectgarbage("collect")
        assert.truthy(weak.server)
        local c = support.raw(url)
        assert.truthy(c:wait_open())
        weak.server:close()
        assert.truthy(c:wait_closed())
    end)
end)

describe("a closed client", function()
    it("is collected once nothing references it", function()
        local server = assert(sb.listen{ port = 0 })
        local client = sb.connect(server:url("/c/lifetime"))
        local opened = false
        client:on("open", function() opened = client ~= nil end)
        assert.is_true(support.wait_until(function() return opened end))
        local weak = weak_set(client)
        client:close()
        support.settle(0.05)
        client = nil   -- luacheck: ignore 311
        assert.is_true(collected(weak))
        server:close()
    end)
end)
