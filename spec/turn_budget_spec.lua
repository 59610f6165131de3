-- A burst of handshakes or of hang-ups is spread over many short loop
-- turns, so that an HTTP request that came with it (GET /metrics) is
-- answered while the burst is still being worked through, not after all
-- of it (issue 18: /metrics within 100 ms during a 20k join storm).  The
-- app's hooks are made to cost 0.2 ms each, so that the burst is
-- certainly longer than one turn's budget (4 ms) on any machine.
local sb = require "switchboard"
local rawtcp = require "rawtcp"
local support = require "support"

local N = 200

-- Busy for ms milliseconds of CPU: a hook that costs what a real one
-- (a database lookup, a token check) might.
local function burn(ms)
    local until_ = os.clock() + ms / 1000
    while os.clock() < until_ do end
end

local UPGRADE = "GET /c/burst HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    .. "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    .. "Sec-WebSocket-Version: 13\r\n\r\n"
local METRICS = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"

local function count(peers, pred)
    local n = 0
    for _, p in ipairs(peers) do
        p:pump()
        if pred(p) then
            n = n + 1
        end
    end
    return n
end

local function upgraded(p)
    return p:status() == 101
end

-- Sends GET /metrics on a new connection and waits for the whole answer
-- (a 200, then the server's hang-up); returns the peer.
local function ask_metrics(port)
    local p = rawtcp.connect(port)
    assert.truthy(p:send(METRICS))
    assert.truthy(p:wait(function(x) return x:status() ~= nil and x.closed end, 10),
        "GET /metrics is answered")
    assert.equal(200, p:status())
    return p
end

describe("a burst on one server", function()
    local server, peers, probe

    before_each(function()
        server = assert(sb.listen{ port = 0 })
        peers = {}
    end)

    after_each(function()
        for _, p in ipairs(peers) do
            p:close()
        end
        if probe then
            probe:close()
            probe = nil
        end
        server:close()
        support.settle(0.05)
    end)

    it("answers GET /metrics before the last of a burst of handshakes", function()
        server:on("connect", function() burn(0.2) end)
        -- every head is sent before the loop turns once
        for i = 1, N do
            peers[i] = rawtcp.connect(server.port)
            assert.truthy(peers[i]:send(UPGRADE))
        end
        probe = ask_metrics(server.port)
        local done = count(peers, upgraded)
        assert.is_true(done < N, ("%d of %d handshakes were done before /metrics was answered")
            :format(done, N))
        -- and every handshake of the burst is then answered: none is lost
        assert.truthy(support.wait_for(function() return count(peers, upgraded) == N end, 20))
        assert.equal(N, server.hub:connection_count("burst"))
    end)

    it("answers GET /metrics before the last close of a burst of hang-ups", function()
        local closed = 0
        server:on("close", function()
            burn(0.2)
            closed = closed + 1
        end)
        for i = 1, N do
            peers[i] = rawtcp.connect(server.port)
            assert.truthy(peers[i]:send(UPGRADE))
        end
        assert.truthy(support.wait_for(function() return count(peers, upgraded) == N end, 20))
        assert.truthy(support.wait_for(function()
            return server.hub:connection_count("burst") == N
        end, 5))
        -- all of them hang up at once, and the request comes with them
        for _, p in ipairs(peers) do
            p:close()
        end
        probe = ask_metrics(server.port)
        assert.is_true(closed < N, ("%d of %d close hooks ran before /metrics was answered")
            :format(closed, N))
        assert.truthy(support.wait_for(function() return closed == N end, 20))
        assert.equal(0, server.hub:connection_count("burst"))
    end)
end)
