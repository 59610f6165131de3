-- The hub's own timer: a hub with no server expires typing and history
-- while the loop turns (lua/switchboard/hub.lua, csrc/lua/lua_hub_timer.c),
-- and never keeps run() going by itself.
local sb = require "switchboard"
local support = require "support"

local MARGIN = 1.5   -- seconds past a deadline a spec waits before failing

-- Runs `code` in a child interpreter (same build of the C module) under a
-- hard time limit; returns its output and how long it took.
local function child(code)
    local out = os.tmpname()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(code)
    f:close()
    local t0 = sb.now_ms()
    os.execute(("timeout 20 %s %s >%s 2>&1"):format(support.LUA, script, out))
    local took = (sb.now_ms() - t0) / 1000
    local text = support.readfile(out) or ""
    os.remove(out)
    os.remove(script)
    return text, took
end

describe("a standalone hub's timer", function()
    it("clears typing within typing_ttl while step() turns the loop", function()
        local hub = sb.hub { typing_ttl = 1 }
        local cleared
        hub:on("typing", function(_, member, typing)
            if not typing then
                cleared = member
            end
        end)
        local a = hub:attach(function() end)
        hub:join("room", "alice", a)
        local t0 = sb.now_ms()
        assert.is_true(hub:set_typing("room", "alice", true, a))
        assert.truthy(support.wait_for(function() return cleared end, 1 + MARGIN))
        local took = (sb.now_ms() - t0) / 1000
        assert.equal("alice", cleared)
        assert.same({}, hub:typing("room"))
        assert.is_true(took >= 0.99, "cleared early: " .. took)
        a:close()
    end)

    it("counts a new set from the last one", function()
        local hub = sb.hub { typing_ttl = 0.6 }
        local a = hub:attach(function() end)
        hub:join("room", "alice", a)
        hub:set_typing("room", "alice", true)
        support.settle(0.4)
        hub:set_typing("room", "alice", true)
        support.settle(0.4)
        assert.same({ "alice" }, hub:typing("room"))
        assert.truthy(support.wait_for(function() return #hub:typing("room") == 0 end, 0.6 + MARGIN))
        a:close()
    end)

    it("expires history with history_ttl", function()
        local hub = sb.hub { history = 10, history_ttl = 1 }
        local a = hub:attach(function() end)
        hub:join("room", "alice", a)
        hub:publish("room", "chat", { n = 1 })
        assert.equal(1, hub:stats().kept_messages)
        assert.truthy(support.wait_for(function() return hub:stats().kept_messages == 0 end,
            1 + MARGIN))
        a:close()
    end)

    it("expires history of a per-pattern rule", function()
        local hub = sb.hub()
        sb.core.hub_set_history(hub.core, "news:*", 5, 0.5)
        hub:publish("news:today", "item", { n = 1 })
        assert.equal(1, hub:stats().kept_messages)
        assert.truthy(support.wait_for(function() return hub:stats().kept_messages == 0 end,
            0.5 + MARGIN))
    end)

    it("leaves a hub with an injected clock to hub:tick()", function()
        local now = 0
        local hub = sb.hub { typing_ttl = 0.2, clock = function() return now end }
        local a = hub:attach(function() end)
        hub:join("room", "alice", a)
        hub:set_typing("room", "alice", true)
        support.settle(0.4)
        assert.same({ "alice" }, hub:typing("room"))
        now = 1
        assert.is_nil(hub:tick())
        assert.same({}, hub:typing("room"))
        a:close()
    end)
end)

describe("run() with a standalone hub", function()
    it("returns at once when only the hub has deadlines", function()
        local text, took = child([[
            local sb = require "switchboard"
            local hub = sb.hub { typing_ttl = 30, history = 5, history_ttl = 60 }
            local a = hub:attach(function() end)
            hub:join("room", "alice", a)
            hub:set_typing("room", "alice", true)
            hub:publish("room", "chat", { n = 1 })
            sb.run()
            print("returned", sb.loop():users())
        ]])
        assert.matches("returned\t0", text)
        assert.is_true(took < 5, "run() took " .. took .. " s")
    end)

    it("clears typing while something else keeps it running", function()
        local text = child([[
            local sb = require "switchboard"
            local hub = sb.hub { typing_ttl = 0.5 }
            local a = hub:attach(function() end)
            hub:join("room", "alice", a)
            hub:on("typing", function(_, m, t) print("typing", m, t) end)
            hub:set_typing("room", "alice", true)
            sb.after(1.5, function() print("left", #hub:typing("room")) end)
            sb.run()
            print("returned")
        ]])
        assert.matches("typing\talice\ttrue\ntyping\talice\tfalse\nleft\t0\nreturned", text)
    end)
end)

describe("a server's hub", function()
    it("clears typing without a history ttl", function()
        local server = assert(sb.listen { port = 0, typing_ttl = 0.5 })
        local hub = server.hub
        local a = hub:attach(function() end)
        hub:join("room", "alice", a)
        hub:set_typing("room", "alice", true)
        assert.truthy(support.wait_for(function() return #hub:typing("room") == 0 end, 0.5 + MARGIN))
        a:close()
        server:close()
        support.settle(0.05)
    end)

    it("expires history with history_ttl", function()
        local server = assert(sb.listen { port = 0, history = 5, history_ttl = 0.5 })
        server.hub:publish("room", "chat", { n = 1 })
        assert.equal(1, server.hub:stats().kept_messages)
        assert.truthy(support.wait_for(function() return server.hub:stats().kept_messages == 0 end,
            0.5 + MARGIN))
        server:close()
        support.settle(0.05)
    end)
end)
