-- Join and leave events of the native protocol under a storm: coalesced
-- per loop turn, so a member gets at most 16 of them per channel per turn
-- (the first 15 and the last), with the exact count always in the last
-- (docs/protocols.md, "Join and leave frames").  Many events in one turn
-- are made deterministic here through hub.core:remote_join/remote_leave,
-- what the cluster does when another node's connections come and go.
local sb = require "switchboard"
local support = require "support"

local raw, wait_until, settle = support.raw, support.wait_until, support.settle

local BUDGET = 16

describe("native join and leave events in a storm", function()
    local server

    before_each(function()
        server = assert(sb.listen{ port = 0 })
    end)

    after_each(function()
        server:close()
        settle(0.02)
    end)

    local function member(name)
        local c = raw(server:url("/c/storm?alias=" .. name))
        c:wait_frames(1)
        return c
    end

    local function presence(c)
        local out = {}
        for _, f in ipairs(c.frames) do
            if type(f) == "table" and (f.type == "join" or f.type == "leave") and not f.self then
                out[#out + 1] = f
            end
        end
        return out
    end

    it("sends at most the budget per turn, the last with the exact count", function()
        local a = member("a")
        local core = server.hub.core
        -- 100 connections of another node join in this one turn
        for i = 1, 100 do
            core:remote_join("storm", "m" .. i, "X|1:" .. i, "u" .. i, "m" .. i, true)
        end
        assert.equal(101, server.hub:connection_count("storm"))
        assert.is_true(wait_until(function()
            local p = presence(a)
            return #p > 0 and p[#p].users == 101
        end))
        settle(0.1)
        local p = presence(a)
        assert.equal(BUDGET, #p)
        for i = 1, BUDGET - 1 do
            assert.same({ "join", i + 1, "u" .. i }, { p[i].type, p[i].users, p[i].uid })
        end
        assert.same({ "join", 101, 101, "u100" }, { p[BUDGET].type, p[BUDGET].users, p[BUDGET].total, p[BUDGET].uid })
        -- and they all leave in one turn
        for i = 1, 100 do
            core:remote_leave("storm", "X|1:" .. i)
        end
        assert.is_true(wait_until(function()
            local q = presence(a)
            return q[#q].type == "leave" and q[#q].users == 1
        end))
        settle(0.1)
        assert.equal(2 * BUDGET, #presence(a))
        a:close()
    end)

    it("sends a turn's few events one by one, and before a message of the same turn", function()
        local a = member("a")
        local core = server.hub.core
        for i = 1, 3 do
            core:remote_join("storm", "m" .. i, "X|1:" .. i, "u" .. i, "m" .. i, true)
        end
        server.hub:publish("storm", "message", { text = "after the joins" })
        assert.is_true(wait_until(function() return #a.frames >= 5 end))
        local kinds = {}
        for i = 2, 5 do
            kinds[#kinds + 1] = a.frames[i].type or "message"
        end
        assert.same({ "join", "join", "join", "message" }, kinds)
        assert.same({ 2, 3, 4 }, { a.frames[2].users, a.frames[3].users, a.frames[4].users })
        a:close()
    end)

    it("tells a joiner nothing of the events before its own join", function()
        local a = member("a")
        local core = server.hub.core
        for i = 1, 5 do
            core:remote_join("storm", "m" .. i, "X|1:" .. i, "u" .. i, "m" .. i, true)
        end
        local b = raw(server:url("/c/storm?alias=b"))
        local own = b:wait_frames(1)[1]
        assert.is_true(own.self)
        assert.equal(7, own.users)
        assert.is_true(wait_until(function() return #presence(a) >= 6 end))
        settle(0.1)
        assert.same({}, presence(b))
        local p = presence(a)
        assert.equal(6, #p)
        assert.equal(7, p[6].users)
        a:close()
        b:close()
    end)

    it("keeps the counts exact through a storm of real connections", function()
        local a = member("a")
        local storm = {}
        for i = 1, 150 do
            storm[i] = raw(server:url("/c/storm"))
        end
        assert.is_true(wait_until(function()
            for _, c in ipairs(storm) do
                if #c.frames < 1 then
                    return false
                end
            end
            return true
        end, 10))
        assert.is_true(wait_until(function()
            local p = presence(a)
            return #p > 0 and p[#p].users == 151
        end, 5))
        for _, c in ipairs(storm) do
            c:close()
        end
        assert.is_true(wait_until(function()
            local p = presence(a)
            return p[#p].type == "leave" and p[#p].users == 1
        end, 10))
        assert.equal(1, server.hub:connection_count("storm"))
        assert.is_true(#presence(a) <= 300)
        a:close()
    end)
end)
