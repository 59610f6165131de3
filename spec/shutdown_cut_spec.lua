-- server:close() with a peer that does not read: its close frame cannot go
-- out behind what is queued, so the server cuts it 5 s after close()
-- (csrc/net/server.c, sb_server_close_expired), and a reading peer is not
-- held up by it.
local sb = require "switchboard"
local support = require "support"
local rawtcp = require "rawtcp"

describe("server:close() and a peer that does not read", function()
    it("cuts it about 5 s after close, and lets a reading client go at once", function()
        local server = assert(sb.listen { port = 0, max_queue = 64 * 1024 * 1024 })
        local hub = server.hub
        local stuck = rawtcp.websocket(server.port, "/c/stuck", { rcvbuf = 4096 })
        assert.truthy(stuck.upgraded)
        local reader = sb.connect(("ws://127.0.0.1:%d/c/other"):format(server.port), { reconnect = false })
        local reader_closed
        reader:on("close", function() reader_closed = sb.now_ms() end)
        assert.is_true(support.wait_until(function()
            return hub:connection_count("stuck") == 1 and hub:connection_count("other") == 1
        end))
        local chunk = ("x"):rep(16 * 1024)
        for _ = 1, 512 do   -- 8 MB: more than the socket buffers hold
            hub:publish("stuck", "fill", chunk)
        end
        support.settle(0.2)
        assert.equal(1, hub:connection_count("stuck"))
        local t0 = sb.now_ms()
        server:close()
        assert.is_true(support.wait_until(function() return hub:connection_count("stuck") == 0 end, 8),
            "still open " .. (sb.now_ms() - t0) .. " ms after close")
        local took = (sb.now_ms() - t0) / 1000
        assert.is_true(took > 4.5 and took < 7, "cut after " .. took .. " s")
        assert.truthy(reader_closed)
        assert.is_true((reader_closed - t0) / 1000 < 2)
        stuck.sock:close()
        support.settle(0.05)
    end)
end)
