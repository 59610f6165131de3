-- examples/lobby.lua: the lobby channel announces game rooms and their
-- player counts as they change; game rooms refuse players over the limit.
local async = require "async_helpers"
local lobby = require "examples.lobby"

local function rooms_of(rec)
    local e = async.last(rec, "rooms")
    if not e then
        return nil
    end
    local out = {}
    for _, r in ipairs(e.rooms or {}) do
        out[r.name] = r.players
    end
    return out
end

describe("examples/lobby.lua", function()
    local app, clients

    before_each(function()
        app = assert(lobby.start({ port = 0, max_players = 2 }))
        clients = {}
    end)

    after_each(function()
        async.cleanup(clients, { app })
    end)

    local function connect(path)
        local rec = async.client(app.port, path, {})
        clients[#clients + 1] = rec
        return rec
    end

    it("tells a newcomer to the lobby which rooms are open", function()
        local p1 = connect("/c/game-1")
        assert.truthy(async.wait_for(function() return p1.opened end))
        local watcher = connect("/c/lobby")
        assert.truthy(async.wait_for(function()
            local r = rooms_of(watcher)
            return r and r["game-1"] == 1
        end))
        assert.equal(2, async.last(watcher, "rooms").rooms[1].max)
    end)

    it("announces player counts as players come and go", function()
        local watcher = connect("/c/lobby")
        assert.truthy(async.wait_for(function() return rooms_of(watcher) end))
        assert.same({}, rooms_of(watcher))
        local p1 = connect("/c/game-7")
        assert.truthy(async.wait_for(function()
            local r = rooms_of(watcher)
            return r["game-7"] == 1
        end))
        local p2 = connect("/c/game-7")
        local q1 = connect("/c/game-8")
        assert.truthy(async.wait_for(function()
            local r = rooms_of(watcher)
            return r["game-7"] == 2 and r["game-8"] == 1
        end))
        p1.c:close()
        assert.truthy(async.wait_for(function() return rooms_of(watcher)["game-7"] == 1 end))
        p2.c:close()
        q1.c:close()
        -- empty rooms drop out of the list
        assert.truthy(async.wait_for(function() return next(rooms_of(watcher)) == nil end))
    end)

    it("refuses a player when the room is full, with a reason", function()
        local p1, p2 = connect("/c/game-9"), connect("/c/game-9")
        assert.truthy(async.wait_for(function() return p1.opened and p2.opened end))
        local p3 = connect("/c/game-9")
        assert.truthy(async.wait_for(function() return p3.closed or #p3.errors > 0 end))
        assert.is_false(p3.opened)
        assert.equal(2, app.hub:connection_count("game-9"))
        -- the reason travels in the HTTP refusal
        local h = app.server:handler_for("game-9")
        local ok, reason = h.join({}, "game-9", {})
        assert.is_nil(ok)
        assert.equal("game-9 is full (2 players)", reason)
        -- a seat frees up when someone leaves
        p1.c:close()
        assert.truthy(async.wait_for(function() return app.hub:connection_count("game-9") == 1 end))
        local p4 = connect("/c/game-9")
        assert.truthy(async.wait_for(function() return p4.opened end))
    end)

    it("does not let two quick connects take the last seat together", function()
        local p1 = connect("/c/game-3")
        assert.truthy(async.wait_for(function() return p1.opened end))
        local a, b = connect("/c/game-3"), connect("/c/game-3")
        assert.truthy(async.wait_for(function()
            return (a.opened or a.closed or #a.errors > 0) and (b.opened or b.closed or #b.errors > 0)
        end))
        assert.is_true(a.opened ~= b.opened)
        assert.equal(2, app.hub:connection_count("game-3"))
    end)
end)
