-- Connections that no Lua code needs get no Lua object (server:stats()
-- counts them), and get one as soon as Lua asks: server:connections(), a
-- listener added later, a hub listener.
local sb = require "switchboard"
local async = require "async_helpers"
local support = require "support"
local http = require "http_helper"
local H = require "phx_helper"

-- The uid the server gave rec (its own join event names it).
local function own_uid(rec)
    local e = async.wait_for(function() return async.last(rec, "join") end)
    return e and e.uid
end

describe("connections without Lua objects", function()
    local server, clients

    before_each(function()
        server = assert(sb.listen{ port = 0, phoenix = { "/socket" } })
        clients = {}
    end)

    after_each(function()
        async.cleanup(clients, { server })
    end)

    local function connect(path)
        local rec = async.client(server.port, path)
        clients[#clients + 1] = rec
        return rec
    end

    local function wait_connections(n)
        return async.wait_for(function() return server:stats().connections == n end)
    end

    it("relays between native clients with no Lua object for any of them", function()
        local a, b = connect("/c/room"), connect("/c/room")
        assert.truthy(wait_connections(2))
        assert.truthy(async.wait_for(function() return a.opened and b.opened end))
        a.c:send({ type = "chat", text = "hi" })
        local got = async.wait_for(function() return async.last(b, "chat") end)
        assert.equal("hi", got and got.text)
        assert.same({ connections = 2, objects = 0 }, server:stats())
        assert.equal(2, server.hub:member_count("room"))
    end)

    it("lists them in server:connections() with their uid, member, alias, channel, protocol", function()
        local a = connect("/c/room?alias=ana")
        local uid = own_uid(a)
        assert.truthy(uid)
        assert.equal(0, server:stats().objects)
        local list = server:connections()
        assert.equal(1, #list)
        local conn = list[1]
        assert.equal(uid, conn.uid)
        assert.equal(uid, conn.member, "the member id is the uid")
        assert.equal("ana", conn.alias)
        assert.equal("room", conn.channel)
        assert.equal("native", conn.protocol)
        assert.is_true(conn:alive())
        assert.same({ connections = 1, objects = 1 }, server:stats())
        -- the object is the connection: the hub takes it, it can send
        assert.equal(uid, server.hub:member_of("room", conn))
        assert.truthy(conn:send({ n = 1 }, "note"))
        local got = async.wait_for(function() return async.last(a, "note") end)
        assert.same({ n = 1 }, got and got.message)
        assert.equal(list[1], server:connections()[1], "the same object the next time")
    end)

    it("calls a close listener added after they connected", function()
        local a = connect("/c/room?alias=ana")
        local uid = own_uid(a)
        assert.equal(0, server:stats().objects)
        local closed = {}
        server:on("close", function(conn, code)
            closed[#closed + 1] = { uid = conn.uid, alias = conn.alias, code = code }
        end)
        a.c:close()
        assert.truthy(async.wait_for(function() return #closed == 1 end))
        assert.equal(uid, closed[1].uid)
        assert.equal("ana", closed[1].alias)
        assert.equal(1000, closed[1].code)
    end)

    it("hands a hub listener added later the connection object", function()
        local a = connect("/c/room")
        local uid = own_uid(a)
        local left
        server.hub:on("session:leave", function(_, member, conn)
            left = { member = member, uid = conn and conn.uid }
        end)
        a.c:close()
        assert.truthy(async.wait_for(function() return left end))
        assert.same({ member = uid, uid = uid }, left)
    end)

    it("sends new connections through a connect listener added later", function()
        local a = connect("/c/room")
        assert.truthy(own_uid(a))
        local seen = {}
        server:on("connect", function(conn, req)
            seen[#seen + 1] = conn.uid
            if req.query.deny then
                return false, "no", 403
            end
        end)
        local refused = support.wire(server.port, "/c/room?deny=1")
        assert.equal(403, refused.status)
        refused:kill()
        local b = connect("/c/room")
        local uid = own_uid(b)
        assert.equal(2, #seen)
        assert.equal(uid, seen[2])
        assert.same({ connections = 2, objects = 2 }, server:stats())
    end)

    it("goes without for SSE streams too, and lists them", function()
        local s = http.open(server.port, "GET", "/sse/feed", { Accept = "text/event-stream" })
        assert.truthy(s:wait(function(x) return #x:events() >= 1 end))
        assert.same({ connections = 1, objects = 0 }, server:stats())
        local conn = server:connections()[1]
        assert.equal("sse", conn.protocol)
        assert.equal("feed", conn.channel)
        s:close()
    end)

    it("keeps Phoenix sockets in Lua: joins reach the channel handler", function()
        local c = H.open(server.port)
        assert.same({ connections = 1, objects = 1 }, server:stats())
        server:channel("room:*", { join = function() return { ok = 1 } end })
        c:send('["1","1","room:a","phx_join",{}]')
        assert.equal('["1","1","room:a","phx_reply",{"status":"ok","response":{"ok":1}}]', c:frame(1))
        c:close()
    end)

    it("lets the server API disconnect them by uid", function()
        local cjson = require "cjson"
        local api = assert(sb.listen{ port = 0, api = { keys = { k = true } } })
        local rec = async.client(api.port, "/c/room")
        clients[#clients + 1] = rec
        local uid = own_uid(rec)
        assert.same({ connections = 1, objects = 0 }, api:stats())
        local r = http.request(api.port, "POST", "/api/disconnect", { ["X-API-Key"] = "k" },
            cjson.encode({ connection = uid }))
        assert.equal(200, r.status)
        assert.same({ disconnected = 1 }, r.json.result)
        assert.truthy(async.wait_for(function() return rec.closed end))
        api:close()
    end)

    it("gives every connection an object on a server with a handler", function()
        server:channel("room", { join = function() return true end })
        connect("/c/room")
        assert.truthy(wait_connections(1))
        assert.same({ connections = 1, objects = 1 }, server:stats())
    end)
end)
