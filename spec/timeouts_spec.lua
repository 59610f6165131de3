-- Timeouts and size limits of the handshake, and idle connections
-- (issue 8): slowloris heads and bodies, oversize URLs and heads, native
-- WebSocket pings with an idle timeout, stalled SSE readers.  Each spec
-- keeps two well-behaved clients busy meanwhile and counts their messages.
-- Short timeouts (1-2 s) keep the run short; lws counts whole seconds.
local sb = require "switchboard"
local support = require "support"
local rawtcp = require "rawtcp"
local http = require "http_helper"

local wait_until = support.wait_until

-- Two Lua clients on channel `ch` that send `n` messages each, one per
-- loop turn, while `tick()` runs on every turn; returns what each one got.
local function chat(server, ch, n, tick)
    local got = { a = 0, b = 0 }
    local a = sb.connect(server:url("/c/" .. ch)):on("message", function() got.a = got.a + 1 end)
    local b = sb.connect(server:url("/c/" .. ch)):on("message", function() got.b = got.b + 1 end)
    assert.is_true(wait_until(function() tick() return a:is_open() and b:is_open() end))
    for i = 1, n do
        a:send({ from = "a", i = i })
        b:send({ from = "b", i = i })
        tick()
        sb.step(0.001)
    end
    wait_until(function() tick() return got.a == n and got.b == n end)
    a:close()
    b:close()
    return got
end

describe("handshake limits", function()
    local server

    after_each(function()
        server:close()
        support.settle(0.05)
    end)

    it("drops 200 slowloris sockets after handshake_timeout while two clients chat on", function()
        server = assert(sb.listen{ port = 0, limits = { handshake_timeout = 2 } })
        local peers = {}
        for i = 1, 200 do
            local p = rawtcp.connect(server.port)
            -- half never finish the request line, half dribble header bytes
            if i % 2 == 0 then
                p:send("GET /c/room HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            end
            peers[i] = p
        end
        local started = sb.now_ms()
        local next_drip = 0
        local function drip()
            if sb.now_ms() < next_drip then
                return
            end
            next_drip = sb.now_ms() + 200
            for i = 2, #peers, 2 do
                if not peers[i].closed then
                    peers[i]:send("x")
                end
            end
        end
        local function closed_count()
            local n = 0
            for _, p in ipairs(peers) do
                p:pump()
                n = n + (p.closed and 1 or 0)
            end
            return n
        end
        local got = chat(server, "room", 50, drip)
        assert.same({ a = 50, b = 50 }, got)
        assert.is_true(sb.now_ms() - started < 1800, "chat took too long to prove anything")
        assert.same(0, closed_count())
        assert.is_true(wait_until(function() drip() return closed_count() == 200 end, 5))
        local took = sb.now_ms() - started
        assert.is_true(took >= 1800 and took < 5000, "closed after " .. took .. " ms")
        for _, p in ipairs(peers) do
            assert.same("", p.raw)   -- lws hangs up without an answer
        end
    end)

    it("closes a POST whose body trickles in for longer than handshake_timeout", function()
        server = assert(sb.listen{ port = 0, limits = { handshake_timeout = 1 } })
        local stream = http.open(server.port, "GET", "/sse/slowpost")
        assert.is_true(stream:wait(function(x) return x.status == 200 end))
        local p = rawtcp.connect(server.port)
        p:send("POST /sse/slowpost HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            .. "Content-Length: 40\r\n\r\n{\"text\":")
        local started = sb.now_ms()
        local drip_at = 0
        assert.is_true(p:wait(function(x)
            if sb.now_ms() >= drip_at then
                drip_at = sb.now_ms() + 300
                x:send(" ")
            end
            return x.closed
        end, 5))
        local took = sb.now_ms() - started
        assert.is_true(took >= 900 and took < 3000, "closed after " .. took .. " ms")
        assert.is_nil(p:status())
        -- a whole POST still goes through, and only it reaches the stream
        local r = http.request(server.port, "POST", "/sse/slowpost", {}, '{"text":"on time"}')
        assert.same(202, r.status)
        assert.is_true(stream:wait(function(x) return #x:messages() >= 1 end))
        assert.same({ '{"text":"on time"}' }, { stream:messages()[1].data })
        support.settle(0.1)
        stream:pump()
        assert.same(1, #stream:messages())
        stream:close()
    end)

    local UP = "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        .. "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

    -- Sends one request; returns the status (nil: none) and whether the
    -- server hung up.
    local function try(request)
        local p = rawtcp.connect(server.port)
        p:send(request)
        p:wait(function(x) return x.closed or x:status() end, 3)
        local status = p:status()
        p:close()
        return status
    end

    it("answers a URL over max_url with 414 on every route; under it works", function()
        server = assert(sb.listen{ port = 0, static = "examples/public", limits = { max_url = 200 } })
        local long = ("a"):rep(201 - #"/c/")
        assert.same(414, try("GET /c/" .. long .. " HTTP/1.1\r\nHost: x\r\n" .. UP .. "\r\n"))
        assert.same(414, try("GET /c/a?alias=" .. long .. " HTTP/1.1\r\nHost: x\r\n" .. UP .. "\r\n"))
        assert.same(414, try("GET /sse/" .. long .. " HTTP/1.1\r\nHost: x\r\n\r\n"))
        assert.same(414, try("GET /socket/websocket?vsn=2.0.0&t=" .. long .. " HTTP/1.1\r\nHost: x\r\n"
            .. UP .. "\r\n"))
        assert.same(414, try("GET /" .. long .. ".html HTTP/1.1\r\nHost: x\r\n\r\n"))
        local fits = ("a"):rep(200 - #"/c/")
        assert.same(101, try("GET /c/" .. fits .. " HTTP/1.1\r\nHost: x\r\n" .. UP .. "\r\n"))
        assert.same({ a = 10, b = 10 }, chat(server, "after-414", 10, function() end))
    end)

    it("hangs up on a request head over max_header_bytes without an answer; under it works", function()
        server = assert(sb.listen{ port = 0, limits = { max_header_bytes = 2048 } })
        local big = "X-Big: " .. ("b"):rep(2100) .. "\r\n"
        assert.is_nil(try("GET /c/room HTTP/1.1\r\nHost: x\r\n" .. UP .. big .. "\r\n"))
        assert.is_nil(try("GET /sse/room HTTP/1.1\r\nHost: x\r\n" .. big .. "\r\n"))
        local many = ("X-A: b\r\n"):rep(300)
        assert.is_nil(try("GET /c/room HTTP/1.1\r\nHost: x\r\n" .. UP .. many .. "\r\n"))
        local cookie = "Cookie: " .. ("c"):rep(1500) .. "\r\n"
        assert.same(101, try("GET /c/room HTTP/1.1\r\nHost: x\r\n" .. UP .. cookie .. "\r\n"))
        assert.same({ a = 10, b = 10 }, chat(server, "after-431", 10, function() end))
    end)

    it("refuses bad limits with clear errors", function()
        server = assert(sb.listen{ port = 0 })
        assert.has_error(function() sb.listen{ port = 0, limits = { idle_timeout = 10, ping_interval = 10 } } end,
            "switchboard.listen: idle_timeout (10) must be greater than ping_interval (10)")
        assert.has_error(function() sb.listen{ port = 0, limits = { idle_timeout = 20 } } end,
            "switchboard.listen: idle_timeout (20) must be greater than ping_interval (30)")
        assert.has_error(function() sb.listen{ port = 0, limits = { handshake_timout = 1 } } end)
        assert.has_error(function() sb.listen{ port = 0, limits = { handshake_timeout = 0 } } end,
            "switchboard.listen: option 'limits.handshake_timeout' must be a whole number 1..3600, got 0")
        assert.has_error(function() sb.listen{ port = 0, limits = { max_url = 1.5 } } end,
            "switchboard.listen: option 'limits.max_url' must be a whole number 1..65535, got 1.5")
        assert.has_error(function() sb.listen{ port = 0, limits = { max_header_bytes = 100000 } } end,
            "switchboard.listen: option 'limits.max_header_bytes' must be a whole number 1..65535, got 100000")
        assert.has_error(function() sb.listen{ port = 0, limits = "strict" } end,
            "switchboard.listen: option 'limits' must be a table of limits, got \"strict\"")
    end)
end)

describe("idle connections", function()
    local server

    after_each(function()
        server:close()
        support.settle(0.05)
    end)

    it("pings a silent native client and closes it without a pong; clients that answer stay", function()
        server = assert(sb.listen{ port = 0, limits = { ping_interval = 1, idle_timeout = 2 } })
        local started = sb.now_ms()
        local silent = rawtcp.websocket(server.port, "/c/idle")
        local ponger = rawtcp.websocket(server.port, "/c/idle")
        assert.is_true(silent.upgraded and ponger.upgraded)
        local pongs = 0
        local function answer()
            ponger:pump()
            local pings = ponger:of_op(9)
            while pongs < #pings do
                pongs = pongs + 1
                ponger:pong(pings[pongs].data)
            end
        end
        local ticks, opens, closes = 0, 0, 0
        local good = sb.connect(server:url("/c/idle"), { reconnect = false })
            :on("open", function() opens = opens + 1 end)
            :on("close", function() closes = closes + 1 end)
            :on("tick", function() ticks = ticks + 1 end)
        assert.is_true(wait_until(function() answer() return good:is_open() end))
        local sent = 0
        local timer = sb.every(0.1, function()
            sent = sent + 1
            server.hub:publish("idle", "tick", { n = sent })
        end)
        assert.is_true(silent:wait(function(x) answer() return x.closed end, 5))
        local took = sb.now_ms() - started
        assert.is_true(took >= 1900 and took < 4500, "closed after " .. took .. " ms")
        assert.is_true(#silent:of_op(9) >= 1, "no ping before the close")
        -- the others outlive the timeout twice over and lose nothing
        wait_until(function() answer() return false end, 2.5)
        timer:cancel()
        assert.is_true(wait_until(function() answer() return ticks == sent end))
        assert.is_true(sent >= 30)
        assert.is_true(good:is_open())
        assert.same({ 1, 0 }, { opens, closes })
        assert.is_false(ponger.closed)
        assert.is_true(pongs >= 3)
        local ponger_ticks = 0
        for _, f in ipairs(ponger:of_op(1)) do
            ponger_ticks = ponger_ticks + (f.data:find('"type":"tick"', 1, true) and 1 or 0)
        end
        assert.same(sent, ponger_ticks)
        good:close()
        ponger:close()
    end)

    it("pings each of 200 connections and closes exactly the 100 that never answer", function()
        server = assert(sb.listen{ port = 0, limits = { ping_interval = 1, idle_timeout = 2 } })
        local peers, answered = {}, {}
        for i = 1, 200 do
            peers[i] = rawtcp.websocket(server.port, "/c/crowd")
            assert.is_true(peers[i].upgraded)
            answered[i] = 0
        end
        -- odd peers answer every ping, even ones stay silent
        local function pump_all()
            local closed = 0
            for i, p in ipairs(peers) do
                p:pump()
                if i % 2 == 1 then
                    local pings = p:of_op(9)
                    while answered[i] < #pings do
                        answered[i] = answered[i] + 1
                        p:pong(pings[answered[i]].data)
                    end
                end
                closed = closed + (p.closed and 1 or 0)
            end
            return closed
        end
        assert.is_true(wait_until(function() return pump_all() == 100 end, 8))
        -- a second round of pings for the others: still exactly 100 closed
        wait_until(function() pump_all() return false end, 1.5)
        assert.same(100, pump_all())
        for i, p in ipairs(peers) do
            assert.is_true(#p:of_op(9) >= 1, "peer " .. i .. " got no ping")
            assert.same(i % 2 == 0, p.closed and true or false)
        end
        for i = 1, 200, 2 do
            assert.is_true(answered[i] >= 2, "peer " .. i .. " was pinged " .. answered[i] .. " times")
            peers[i]:close()
        end
    end)

    it("sends no pings with ping_interval = false", function()
        server = assert(sb.listen{ port = 0, limits = { ping_interval = false } })
        local silent = rawtcp.websocket(server.port, "/c/quiet")
        silent:wait(function() return false end, 1.5)
        assert.same(0, #silent:of_op(9))
        assert.is_false(silent.closed)
        silent:close()
    end)

    it("drops an SSE stream whose reader stalls for idle_timeout; a reading stream gets everything", function()
        server = assert(sb.listen{ port = 0, limits = { ping_interval = 1, idle_timeout = 2 } })
        local gone = {}
        server:on("close", function(conn) gone[#gone + 1] = conn.protocol end)
        -- a tiny receive buffer that is never read: its window shuts
        local stalled = rawtcp.connect(server.port, { rcvbuf = 4096 })
        stalled:send("GET /sse/feed HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        local reader = http.open(server.port, "GET", "/sse/feed")
        assert.is_true(reader:wait(function(x) return x.status == 200 end))
        assert.is_true(wait_until(function() return server.hub:connection_count("feed") == 2 end))
        local body = { text = ("x"):rep(1000) }
        local started, sent = sb.now_ms(), 0
        local timer = sb.every(0.01, function()
            sent = sent + 1
            server.hub:publish("feed", "message", body)
        end)
        assert.is_true(wait_until(function() reader:pump() return #gone == 1 end, 8))
        timer:cancel()
        local took = sb.now_ms() - started
        assert.same({ "sse" }, gone)
        assert.is_true(took >= 1500 and took < 6000, "dropped after " .. took .. " ms")
        assert.is_true(reader:wait(function(x) return #x:messages() == sent end))
        assert.same(1, server.hub:connection_count("feed"))
        reader:close()
    end)
end)
