-- Small things a browser or a JavaScript app sees on the wire: empty
-- lists are [] (not {}), addresses are written as people write them,
-- every status line has its reason phrase, and a refused WebSocket
-- upgrade answers JSON like the rest of the server, not an HTML page.
local sb = require "switchboard"
local json = require "switchboard.json"
local core = require "switchboard.core"
local support = require "support"
local rawtcp = require "rawtcp"

local wait_until = support.wait_until

local UPGRADE = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    .. "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    .. "Sec-WebSocket-Version: 13\r\n\r\n"

describe("wire details", function()
    local server, port

    before_each(function()
        server = assert(sb.listen{ port = 0, log = false })
        port = server.port
    end)

    after_each(function()
        server:close()
        support.settle(0.02)
    end)

    describe("empty lists", function()
        it("encode as [] when they come from switchboard's own calls or sb.array", function()
            assert.equal('{"rooms":[]}', json.encode({ rooms = sb.array() }))
            assert.equal("[]", json.encode(server.hub:presence("nobody")))
            assert.equal("[]", json.encode(server.hub:channels()))
            assert.equal('{"a":{}}', json.encode({ a = {} }))   -- unmarked: still an object
            assert.equal('[1,2]', json.encode(sb.array({ 1, 2 })))
        end)

        it("survive a decode and encode round trip, with either decoder", function()
            local text = '{"tags":[],"meta":{},"deep":[[]]}'
            local a = json.decode(text)
            assert.same({ tags = {}, meta = {}, deep = { {} } }, a)
            for _, v in ipairs({ a, core.json_decode(text) }) do
                local out = json.encode(v)
                assert.matches('"tags":%[%]', out)
                assert.matches('"meta":{}', out)
                assert.matches('"deep":%[%[%]%]', out)
            end
        end)

        it("leave the server as [] in a message to a client", function()
            server:on("open", function(conn)
                conn:send({ members = server.hub:presence("empty-room") }, "state")
            end)
            local p = rawtcp.websocket(port, "/c/lists")
            assert.is_true(p.upgraded)
            assert.is_true(p:wait(function(x) return #x:of_op(1) >= 1 end))
            local frame
            for _, f in ipairs(p:of_op(1)) do
                if f.data:find('"state"', 1, true) then
                    frame = f.data
                end
            end
            assert.matches('"members":%[%]', frame)
            p:close()
        end)
    end)

    for _, host in ipairs({ "127.0.0.1", "0.0.0.0", "::" }) do
        it("gives req.ip of an IPv4 peer without the ::ffff: prefix (listening on " .. host .. ")", function()
            local any = assert(sb.listen{ port = 0, host = host, log = false })
            local ip
            any:on("connect", function(_, req) ip = req.ip end)
            local p = rawtcp.websocket(any.port, "/c/ip")
            assert.is_true(p.upgraded)
            assert.equal("127.0.0.1", ip)
            p:close()
            any:close()
        end)
    end

    describe("status lines", function()
        it("POST /sse answers 202 Accepted", function()
            local status, head = support.http(port, "POST /sse/news HTTP/1.1\r\nHost: x\r\n"
                .. "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            assert.equal(202, status)
            assert.matches("^HTTP/1%.1 202 Accepted\r\n", head)
        end)

        it("a refusal with 429 says Too Many Requests", function()
            server:on("connect", function() return false, "slow down", 429 end)
            local status, head = support.http(port, UPGRADE:format("/c/busy"))
            assert.equal(429, status)
            assert.matches("^HTTP/1%.1 429 Too Many Requests\r\n", head)
        end)
    end)

    describe("a refused WebSocket upgrade", function()
        it("answers JSON with the app's reason, and names it in x-switchboard-error", function()
            server:on("connect", function() return false, "token expired", 401 end)
            local status, head, body = support.http(port, UPGRADE:format("/c/locked"))
            assert.equal(401, status)
            assert.matches("^HTTP/1%.1 401 Unauthorized\r\n", head)
            assert.matches("content%-type: application/json", head:lower())
            assert.matches("x%-switchboard%-error: token expired", head:lower())
            assert.same({ error = "token expired" }, json.decode(body))
        end)

        it("answers JSON 404 for a path no protocol serves", function()
            local status, head, body = support.http(port, UPGRADE:format("/nowhere"))
            assert.equal(404, status)
            assert.matches("^HTTP/1%.1 404 Not Found\r\n", head)
            assert.same({ error = "no such endpoint" }, json.decode(body))
        end)

        it("answers JSON 403 for a channel the join hook refuses", function()
            server:channel("vip:*", { join = function() return nil, "members only" end })
            local status, _, body = support.http(port, UPGRADE:format("/c/vip:lounge"))
            assert.equal(403, status)
            assert.same({ error = "members only" }, json.decode(body))
        end)
    end)

    describe("the log option", function()
        it("routes lws's own lines to a function", function()
            local lines = {}
            server:close()
            server = assert(sb.listen{ port = 0, log = function(level, line)
                lines[#lines + 1] = { level, line }
            end })
            server:on("connect", function() return false, "nope", 403 end)
            local c = sb.connect(server:url("/c/x"), { reconnect = false })
            local closed
            c:on("close", function() closed = true end)
            assert.is_true(wait_until(function() return closed end))
            local seen
            for _, l in ipairs(lines) do
                if l[2]:find("bad HTTP response", 1, true) then
                    seen = l
                end
            end
            assert.is_not_nil(seen)
            assert.equal("warn", seen[1])
            assert.is_nil(seen[2]:find("\n", 1, true))
        end)

        it("prints nothing by default for a refused handshake or an oversize request head", function()
            local script = os.tmpname()
            local f = assert(io.open(script, "w"))
            f:write([[
                local sb = require "switchboard"
                local support = require "support"
                local server = assert(sb.listen{ port = 0 })
                server:on("connect", function() return false, "nope", 403 end)
                local closed
                sb.connect(server:url("/c/x"), { reconnect = false }):on("close", function() closed = true end)
                assert(support.wait_until(function() return closed end))
                support.http(server.port, "GET / HTTP/1.1\r\nX-Big: " .. ("a"):rep(9000) .. "\r\n\r\n")
                server:close()
                support.settle(0.05)
                io.stdout:write("done\n")
            ]])
            f:close()
            local cmd = ('LUA_PATH=%q LUA_CPATH=%q %s %s 2>&1'):format(package.path, package.cpath,
                support.LUA, script)
            local p = assert(io.popen(cmd))
            local out = p:read("*a")
            p:close()
            os.remove(script)
            assert.equal("done\n", out)
        end)

        it("rejects a level it does not know", function()
            local want = 'must be a level ("error", "warn", "info", "debug", "off"), false or a function(level, line)'
            assert.has_error(function() sb.listen{ port = 0, log = "loud" } end,
                "switchboard.listen: option 'log' " .. want .. ', got "loud"')
            assert.has_error(function() sb.connect("ws://127.0.0.1:1/", { log = 3 }) end,
                "switchboard.connect: option 'log' " .. want .. ", got 3")
        end)
    end)
end)
