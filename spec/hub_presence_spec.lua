-- Phoenix-style presence in hub.lua, with fake connections (no sockets).
local sb = require "switchboard"

describe("hub presence (Phoenix format)", function()
    local hub, diffs, watcher
    before_each(function()
        hub = sb.hub()
        diffs = {}
        watcher = hub:attach(function(_, event, payload)
            if event == "presence_diff" then
                diffs[#diffs + 1] = payload
            end
        end)
        hub:join("room:1", "watcher", watcher)
    end)

    it("tracks one meta per connection with a unique phx_ref", function()
        local tab1, tab2 = hub:attach(function() end), hub:attach(function() end)
        hub:join("room:1", "alice", tab1)
        hub:join("room:1", "alice", tab2)
        local r1 = assert(hub:track(tab1, "room:1", "alice", { online_at = 1 }))
        local r2 = assert(hub:track(tab2, "room:1", "alice", { online_at = 2 }))
        assert.are_not.equal(r1, r2)
        local state = hub:presence_state("room:1")
        assert.equal(2, #state.alice.metas)
        assert.same({ r1, 1 }, { state.alice.metas[1].phx_ref, state.alice.metas[1].online_at })
        assert.equal(2, #diffs)
        assert.same({}, diffs[1].leaves)
        assert.equal(r1, diffs[1].joins.alice.metas[1].phx_ref)
        assert.same({ nil, "already tracked", "EJOINED" }, { hub:track(tab1, "room:1", "alice", {}) })
        -- one tab closes: its meta leaves, the key stays
        tab2:close()
        assert.equal(r2, diffs[3].leaves.alice.metas[1].phx_ref)
        assert.same({}, diffs[3].joins)
        assert.equal(1, #hub:presence_state("room:1").alice.metas)
    end)

    it("updates in place: new phx_ref with phx_ref_prev, old meta in leaves", function()
        local c = hub:attach(function() end)
        hub:join("room:1", "bob", c)
        local r1 = hub:track(c, "room:1", "bob", { status = "online" })
        local r2 = assert(hub:update(c, "room:1", { status = "busy" }))
        local d = diffs[2]
        assert.same({ phx_ref = r2, phx_ref_prev = r1, status = "busy" }, d.joins.bob.metas[1])
        assert.same({ phx_ref = r1, status = "online" }, d.leaves.bob.metas[1])
        assert.same({ nil, "not tracked", "ENOTFOUND" }, { hub:update(watcher, "room:1", {}) })
    end)

    it("untracks explicitly and reports whether anything was tracked", function()
        local c = hub:attach(function() end)
        hub:track(c, "room:1", "carl", {})
        assert.is_true(hub:untrack(c, "room:1"))
        assert.is_false(hub:untrack(c, "room:1"))
        assert.same({}, hub:presence_state("room:1"))
        assert.same({}, diffs[2].joins)
        assert.truthy(diffs[2].leaves.carl)
    end)
end)

describe("hub presence in a storm (Phoenix format)", function()
    local support = require "support"

    it("sends 16 diffs of a topic per loop turn, then one merged diff with the rest", function()
        local hub = sb.hub()
        local diffs = {}
        local watcher = hub:attach(function(_, event, payload)
            if event == "presence_diff" then
                diffs[#diffs + 1] = payload
            end
        end)
        hub:join("room:storm", "watcher", watcher)
        local conns = {}
        for i = 1, 40 do
            conns[i] = hub:attach(function() end)
            hub:join("room:storm", "u" .. i, conns[i])
            assert(hub:track(conns[i], "room:storm", "u" .. i, { n = i }))
        end
        assert.equal(16, #diffs)
        assert.is_true(support.wait_until(function() return #diffs == 17 end, 2))
        local merged, keys = diffs[17], 0
        for key, e in pairs(merged.joins) do
            keys = keys + 1
            assert.equal(1, #e.metas)
            assert.equal(tonumber(key:sub(2)), e.metas[1].n)
        end
        assert.equal(24, keys)
        assert.same({}, merged.leaves)
        -- presence_state has everyone at once
        local n = 0
        for _ in pairs(hub:presence_state("room:storm")) do
            n = n + 1
        end
        assert.equal(40, n)
        -- and leaving is batched the same way
        for i = 1, 40 do
            conns[i]:close()
        end
        assert.equal(33, #diffs)
        assert.is_true(support.wait_until(function() return #diffs == 34 end, 2))
        keys = 0
        for _ in pairs(diffs[34].leaves) do
            keys = keys + 1
        end
        assert.equal(24, keys)
    end)
end)
