-- Recovery after reconnect from the hub's history: SSE (Last-Event-ID,
-- ?lastEventId=) on the wire, and the Lua client over the native protocol
-- (opts.recover).  Missed messages come back in order, exactly once, then
-- live ones; positions history cannot serve get recovery-failed.
local sb = require "switchboard"
local cjson = require "cjson"
local http = require "http_helper"

local ns = http.ns

describe("recovery", function()
    local server, port

    setup(function()
        server = assert(sb.listen{
            host = "127.0.0.1", port = 0,
            history = { ["short"] = 3, ["gone:*"] = 0, ["*"] = { count = 100, ttl = 60 } },
            sse = { keepalive = 0.2 },
        })
        port = server.port
    end)

    teardown(function()
        server:close()
        http.wait(function() return false end, 0.05)
    end)

    local function stream(path, headers)
        local c = http.open(port, "GET", path, headers or {})
        assert.is_true(c:wait(function(x) return x.status ~= nil end))
        return c
    end

    local function publish(channel, from, to)
        for n = from, to do
            server.hub:publish(channel, "tick", { n = n })
        end
    end

    describe("over SSE", function()
        it("replays exactly the missed messages in order, then live ones", function()
            local c = stream("/sse/feed")
            publish("feed", 1, 2)
            assert.is_true(c:wait(function(x) return #x:messages() >= 2 end))
            local last = c:messages()[2].id
            c:close()
            publish("feed", 3, 7)                    -- missed while away
            local r = stream("/sse/feed", { ["Last-Event-ID"] = last })
            assert.is_true(r:wait(function(x) return #x:messages() >= 5 end))
            publish("feed", 8, 8)                    -- live again
            assert.is_true(r:wait(function(x) return #x:messages() >= 6 end))
            http.wait(function() return false end, 0.1)
            r:pump()
            assert.are.same({ 3, 4, 5, 6, 7, 8 }, ns(r:messages()))
            local epoch = last:match("^(%d+)%-")
            for i, m in ipairs(r:messages()) do
                assert.are.equal(("%s-%d"):format(epoch, i + 2), m.id)
            end
            r:close()
        end)

        it("accepts the position as ?lastEventId= too", function()
            local c = stream("/sse/feed2")
            publish("feed2", 1, 3)
            assert.is_true(c:wait(function(x) return #x:messages() >= 3 end))
            local first = c:messages()[1].id
            c:close()
            local r = stream("/sse/feed2?lastEventId=" .. first)
            assert.is_true(r:wait(function(x) return #x:messages() >= 2 end))
            assert.are.same({ 2, 3 }, ns(r:messages()))
            r:close()
        end)

        it("sends recovery-failed when the history no longer reaches back", function()
            local c = stream("/sse/short")
            publish("short", 1, 1)
            assert.is_true(c:wait(function(x) return #x:messages() >= 1 end))
            local last = c:messages()[1].id
            c:close()
            publish("short", 2, 6)                   -- only 3 are kept
            local r = stream("/sse/short", { ["Last-Event-ID"] = last })
            publish("short", 7, 7)
            assert.is_true(r:wait(function(x) return #x:messages() >= 2 end))
            local m = r:messages()
            assert.are.equal("recovery-failed", m[1].event)
            local info = cjson.decode(m[1].data)
            assert.are.equal("history-expired", info.reason)
            assert.are.equal(last, info.lastEventId)
            assert.are.equal(6, info.offset)
            assert.are.equal(last:match("^(%d+)") .. "-6", m[1].id)
            assert.are.same({ 7 }, ns({ m[2] }))
            r:close()
        end)

        it("sends recovery-failed for an id from a recreated channel", function()
            local c = stream("/sse/gone:1")
            publish("gone:1", 1, 1)
            assert.is_true(c:wait(function(x) return #x:messages() >= 1 end))
            local old = c:messages()[1].id
            c:close()
            assert.is_true(http.wait(function() return server.hub:connection_count("gone:1") == 0 end))
            local other = stream("/sse/gone:1")     -- recreates the channel
            local r = stream("/sse/gone:1", { ["Last-Event-ID"] = old })
            assert.is_true(r:wait(function(x) return #x:messages() >= 1 end))
            local info = cjson.decode(r:messages()[1].data)
            assert.are.equal("recovery-failed", r:messages()[1].event)
            assert.are.equal("epoch-changed", info.reason)
            assert.are_not.equal(tonumber(old:match("^(%d+)")), info.epoch)
            r:close()
            other:close()
        end)

        it("sends recovery-failed for a malformed id", function()
            local r = stream("/sse/feed", { ["Last-Event-ID"] = "not-an-id" })
            assert.is_true(r:wait(function(x) return #x:messages() >= 1 end))
            assert.are.equal("bad-id", cjson.decode(r:messages()[1].data).reason)
            r:close()
        end)
    end)

    describe("with the Lua client over WebSocket", function()
        local function client(channel, opts)
            local got, failed, opens = {}, {}, 0
            local cl = sb.connect(("ws://127.0.0.1:%d/c/%s"):format(port, channel), opts)
            cl:on("tick", function(e) got[#got + 1] = e end)
            cl:on("recovery-failed", function(e) failed[#failed + 1] = e end)
            cl:on("open", function() opens = opens + 1 end)
            return cl, got, failed, function() return opens end
        end

        -- The server ends the connection; while the client is away (in its
        -- close listener, before the backoff timer fires) the channel moves on.
        local function kick(channel)
            for _, conn in ipairs(server:connections()) do
                if conn.channel == channel and conn.protocol == "native" then
                    conn:close(1012, "restart")
                end
            end
        end

        it("receives the missed messages in order, exactly once, then live ones", function()
            local cl, got, failed, opens = client("wsfeed", {
                recover = true, backoff = { initial = 0.05, jitter = 0 } })
            assert.is_true(http.wait(function() return opens() == 1 end))
            publish("wsfeed", 1, 2)
            assert.is_true(http.wait(function() return #got == 2 end))
            assert.is_truthy(cl:last_id())
            cl:on("close", function() if opens() == 1 then publish("wsfeed", 3, 7) end end)
            kick("wsfeed")
            assert.is_true(http.wait(function() return opens() == 2 and #got >= 7 end))
            publish("wsfeed", 8, 8)
            assert.is_true(http.wait(function() return #got >= 8 end))
            http.wait(function() return false end, 0.1)
            local seen = {}
            for i, e in ipairs(got) do
                seen[i] = e.message.n
            end
            assert.are.same({ 1, 2, 3, 4, 5, 6, 7, 8 }, seen)
            assert.are.equal(0, #failed)
            assert.matches("^%d+%-8$", cl:last_id())
            cl:close()
        end)

        it("gets recovery-failed when the history cannot serve its position", function()
            local cl, got, failed, opens = client("short", {
                recover = true, backoff = { initial = 0.05, jitter = 0 } })
            assert.is_true(http.wait(function() return opens() == 1 end))
            publish("short", 100, 100)
            assert.is_true(http.wait(function() return #got == 1 end))
            cl:on("close", function() if opens() == 1 then publish("short", 101, 110) end end)
            kick("short")
            assert.is_true(http.wait(function() return #failed == 1 end))
            assert.are.equal("history-expired", failed[1].message.reason)
            publish("short", 111, 111)
            assert.is_true(http.wait(function() return #got == 2 end))
            assert.are.equal(111, got[2].message.n)
            cl:close()
        end)

        it("leaves clients that do not opt in with the plain envelope (no id)", function()
            local plain, got_plain, _, opens = client("mixed2", { reconnect = false })
            local raw = {}
            plain:on(function() return true end, function(e) raw[#raw + 1] = e end)
            assert.is_true(http.wait(function() return opens() == 1 end))
            server.hub:publish("mixed2", "message", { text = "hi" })
            server.hub:publish("mixed2", "tick", { n = 1 })
            assert.is_true(http.wait(function() return #got_plain == 1 and #raw >= 3 end))
            for _, e in ipairs(raw) do
                assert.is_nil(e.id)
            end
            plain:close()
        end)
    end)
end)
