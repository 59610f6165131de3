-- The hub's side of scale-out, without Redis: what a node does when other
-- nodes report members (hub.core:remote_join / remote_leave, as cluster.c
-- calls them).  Named hub_* so the valgrind run covers it.
local sb = require "switchboard"

describe("hub presence across nodes", function()
    local hub, log

    before_each(function()
        hub = sb.hub()
        log = {}
        for _, ev in ipairs { "presence:join", "presence:leave", "typing" } do
            hub:on(ev, function(ch, member, x)
                log[#log + 1] = table.concat({ ev, ch, member, type(x) == "boolean" and tostring(x) or "-" }, " ")
            end)
        end
    end)

    it("knows the members of a channel that only other nodes have", function()
        assert.is_true(hub.core:remote_join("room", "ann", "X|1"))
        assert.equal(1, hub:member_count("room"))
        assert.equal(1, hub:connection_count("room"))
        assert.is_true(hub:is_present("room", "ann"))
        assert.same({ "ann" }, hub:presence("room"))
        assert.same({ { name = "room", members = 1, connections = 1 } }, hub:channels())
        assert.is_true(hub.core:remote_leave("room", "X|1"))
        assert.equal(0, hub:stats().channels)
        assert.same({ "presence:join room ann -", "presence:leave room ann -" }, log)
    end)

    it("fires join and leave only when a member appears or disappears everywhere", function()
        local c = hub:attach(function() end)
        assert.is_true(hub:join("room", "bob", c))
        assert.is_true(hub.core:remote_join("room", "ann", "X|1"))   -- on node X
        assert.is_false(hub.core:remote_join("room", "ann", "Y|1"))  -- and on node Y
        assert.is_false(hub.core:remote_join("room", "ann", "Y|1"))  -- known: no-op
        assert.same({ "ann", "bob" }, hub:presence("room"))
        assert.equal(2, hub:member_count("room"))
        assert.equal(3, hub:connection_count("room"))
        assert.is_false(hub.core:remote_leave("room", "X|1"))
        assert.is_true(hub:is_present("room", "ann"))
        assert.equal(2, hub:connection_count("room"))
        assert.is_true(hub.core:remote_leave("room", "Y|1"))
        assert.is_false(hub.core:remote_leave("room", "Y|1"))  -- unknown: no-op
        assert.equal(1, hub:connection_count("room"))
        assert.same({ "presence:join room bob -", "presence:join room ann -",
            "presence:leave room ann -" }, log)
    end)

    it("keeps a member present while it has a local or a remote connection", function()
        local c, d = hub:attach(function() end), hub:attach(function() end)
        assert(hub:join("room", "bob", c))
        assert.is_true(hub.core:remote_join("room", "ann", "X|1"))
        assert.is_false(hub:join("room", "ann", d))       -- moved here from X
        assert.is_false(hub.core:remote_leave("room", "X|1"))  -- X drops it
        assert.is_true(hub:is_present("room", "ann"))
        assert.is_true(hub:leave("room", "ann", d))
        assert.same({ "presence:join room bob -", "presence:join room ann -",
            "presence:leave room ann -" }, log)
    end)

    it("clears a remote member's typing when it leaves", function()
        local c = hub:attach(function() end)
        assert(hub:join("room", "bob", c))
        hub.core:remote_join("room", "ann", "X|1")
        assert.is_true(hub:set_typing("room", "ann", true))
        hub.core:remote_leave("room", "X|1")
        assert.same({ "presence:join room bob -", "presence:join room ann -", "typing room ann true",
            "typing room ann false", "presence:leave room ann -" }, log)
    end)

    it("keeps remote members when the last local connection leaves", function()
        local c = hub:attach(function() end)
        assert(hub:join("room", "bob", c))
        hub.core:remote_join("room", "ann", "X|1")
        hub.core:remote_join("room", "cat", "X|2")
        assert.is_true(hub:leave("room", "bob", c))
        assert.same({ "ann", "cat" }, hub:presence("room"))
        assert.equal(2, hub:connection_count("room"))
        -- and a local connection joins them again
        assert.is_true(hub:join("room", "bob", c))
        assert.equal(3, hub:connection_count("room"))
        assert.is_false(hub.core:remote_join("room", "ann", "X|1"))
    end)

    it("does not report a member leaving the cluster while another node has it", function()
        local c = hub:attach(function() end)
        assert.is_true(hub:join("room", "ann", c))
        hub.core:remote_join("room", "ann", "X|1")
        assert.is_false(hub:leave("room", "ann", c))
        assert.equal(1, hub:member_count("room"))
        assert.same({ "presence:join room ann -" }, log)
    end)

    it("keeps history when a channel goes idle after its remote members", function()
        local h = sb.hub{ history = 5 }
        local c = h:attach(function() end)
        assert(h:join("room", "bob", c))
        h.core:remote_join("room", "ann", "X|1")
        h:publish("room", "m", 1)
        h:leave("room", "bob", c)
        assert.equal(0, h:stats().idle_channels)   -- ann is still there
        h.core:remote_leave("room", "X|1")
        assert.equal(1, h:stats().idle_channels)
        assert.equal(0, h:stats().members)
        local n = 0
        local epoch = h:position("room")
        h:replay("room", epoch, 0, function() n = n + 1 end)
        assert.equal(1, n)
    end)
end)
