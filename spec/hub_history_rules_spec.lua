-- Per-channel history rules (sb_hub_set_history through
-- core.hub_set_history): sizes per pattern, longest match, ttl sweep.
local sb = require "switchboard"
local core = require "switchboard.core"

local function kept(hub, channel)
    local epoch = hub:position(channel)
    local n = 0
    local rc = hub:replay(channel, epoch, 0, function() n = n + 1 end)
    if rc == nil then
        -- gap: count what is there by replaying from the oldest kept offset
        local _, last = hub:position(channel)
        for after = 0, last do
            n = 0
            if hub:replay(channel, epoch, after, function() n = n + 1 end) then
                return n
            end
        end
    end
    return n
end

describe("hub history rules", function()
    it("sizes history per pattern; an exact name beats a longer pattern", function()
        local hub = sb.hub{ history = 2 }
        core.hub_set_history(hub.core, "ticker", 5)
        core.hub_set_history(hub.core, "room:*", 0)
        core.hub_set_history(hub.core, "room:v*", 4)
        core.hub_set_history(hub.core, "room:vip", 3)
        for i = 1, 10 do
            for _, ch in ipairs({ "ticker", "room:a", "room:vx", "room:vip", "other" }) do
                hub:publish(ch, "t", { n = i })
            end
        end
        assert.are.equal(5, kept(hub, "ticker"))
        assert.are.equal(0, kept(hub, "room:a"))
        assert.are.equal(4, kept(hub, "room:vx"))
        assert.are.equal(3, kept(hub, "room:vip"))
        assert.are.equal(2, kept(hub, "other"))
    end)

    it("expires by the rule's ttl and keeps channels without one", function()
        local now = 0
        local hub = sb.hub{ clock = function() return now end }
        core.hub_set_history(hub.core, "fast", 10, 5)
        core.hub_set_history(hub.core, "*", 10)
        hub:publish("fast", "t", 1)
        hub:publish("slow", "t", 1)
        now = 6
        hub:tick()
        assert.are.equal(0, kept(hub, "fast"))
        assert.are.equal(1, kept(hub, "slow"))
        assert.are_not.equal(0, (hub:position("slow")))
    end)

    it("replaces a rule set twice", function()
        local hub = sb.hub()
        core.hub_set_history(hub.core, "x", 1)
        core.hub_set_history(hub.core, "x", 3)
        for i = 1, 5 do
            hub:publish("x", "t", i)
        end
        assert.are.equal(3, kept(hub, "x"))
    end)
end)
