-- What a connect hook may do with conn.member: the README's server sets it
-- from ?user=, which a client may leave out.
local sb = require "switchboard"
local async = require "async_helpers"
local support = require "support"

describe("connect hook and conn.member", function()
    local server, clients

    before_each(function()
        server = assert(sb.listen{ port = 0 })
        server:on("connect", function(conn, req)
            if req.query.bad then
                conn.member = 42
            else
                conn.member = req.query.user
            end
        end)
        clients = {}
    end)

    after_each(function()
        async.cleanup(clients, { server })
    end)

    it("keeps the uid as member id when the hook sets conn.member = nil", function()
        local named = async.client(server.port, "/c/room?user=ana")
        local anon = async.client(server.port, "/c/room")
        clients[#clients + 1], clients[#clients + 2] = named, anon
        assert.truthy(async.wait_for(function() return server.hub:member_count("room") == 2 end))
        local members = server.hub:presence("room")
        assert.truthy(members[1] == "ana" or members[2] == "ana")
        local own = async.wait_for(function() return async.last(anon, "join") end)
        assert.truthy(server.hub:is_present("room", own.uid), "the uid is the member id")
    end)

    it("refuses a member id that is not a string with 500 and names it", function()
        local onerror = {}
        sb.onerror(function(_, msg) onerror[#onerror + 1] = msg end)
        local w = support.wire(server.port, "/c/room?bad=1")
        sb.onerror(nil)
        assert.same(500, w.status)
        w:kill()
        assert.truthy(#onerror > 0)
        assert.matches("conn.member must be a string, got number", onerror[1], 1, true)
    end)
end)
