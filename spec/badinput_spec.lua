-- The bad-input catalogue of docs/hardening.md on a native connection and
-- on the WebSocket layer below it, then SSE requests.  Each case sends its
-- bad input from one client (spec/support.lua's wire client, which writes
-- any bytes) while bystanders exchange a counted stream on the same and
-- another channel (spec/badinput_helper.lua), and checks three things: the
-- bad client gets the documented answer, every bystander gets every
-- message, and the server still takes new connections.
local sb = require "switchboard"
local json = require "switchboard.json"
local support = require "support"
local B = require "badinput_helper"

local wait_until = support.wait_until

-- A wire client on the native channel "bad", joined (its join event read).
local function bad_client(server, path)
    local w = support.wire(server.port, path or "/c/bad")
    assert.same(101, w.status)
    assert.is_true(wait_until(function() w:pump() return #w.texts >= 1 end))
    return w
end

-- A fresh bad client does act(w); the server must close it with `code`
-- and exactly `reason`.
local function closes_with(server, act, code, reason)
    local w = bad_client(server)
    act(w)
    local closed = w:wait_closed()
    assert.same(code, closed and closed.code)
    assert.same(reason, closed.reason)
    w:kill()
end

-- The error events the wire client got (the bystanders' messages on its
-- channel reach it too).
local function errors(w)
    local out = {}
    for _, f in ipairs(w:json()) do
        if type(f) == "table" and f.type == "error" then
            out[#out + 1] = f
        end
    end
    return out
end

-- Steps until the wire client got `n` error events (or its connection ended).
local function wait_errors(w, n)
    wait_until(function() w:pump() return #errors(w) >= n or w.closed or w.eof end)
    return errors(w)
end

-- True once a raw client on the channel got a message envelope whose
-- message is `value` (the bystanders' stream interleaves with it).
local function relayed(listener, value)
    return wait_until(function()
        for _, f in ipairs(listener.frames) do
            if type(f) == "table" and f.message == value then
                return true
            end
        end
        return false
    end)
end

-- Runs body(server) with bystanders on "bad" and "calm", then checks that
-- they lost nothing and that the server still serves.
local function with_traffic(server, body)
    assert(B.with_traffic(server, "native", "bad", "calm", body))
end

describe("bad input on a native connection", function()
    local server

    before_each(function()
        server = assert(sb.listen{ port = 0 })
    end)

    after_each(function()
        server:close()
        support.settle(0.02)
    end)

    it("closes on invalid UTF-8 in a text frame with 1007, in one frame or across fragments", function()
        with_traffic(server, function()
            local cases = {
                { "\"\255\254\"" },                          -- bytes never in UTF-8
                { "\"\192\175\"" },                          -- overlong '/'
                { "\"\237\160\128\"" },                      -- a UTF-16 surrogate
                { "\"caf\195" },                             -- cut at the end of the message
                { "\"a\195", "\40\"" },                      -- bad continuation in the next fragment
            }
            for _, frames in ipairs(cases) do
                local w = bad_client(server)
                for i, f in ipairs(frames) do
                    w:send(i == 1 and 1 or 0, f, { fin = i == #frames })
                end
                local closed = w:wait_closed()
                assert.same(1007, closed and closed.code)
                assert.matches("utf8", closed.reason)
                w:kill()
            end
            -- a character split across two fragments is fine
            local w = bad_client(server)
            local listener = support.raw(server:url("/c/bad"))
            listener:wait_frames(1)
            w:send(1, '"caf\195', { fin = false })
            w:send(0, '\169"')
            assert.is_true(relayed(listener, "caf\195\169"))
            listener:close()
            w:kill()
        end)
    end)

    it("relays a binary frame only to clients that asked for binary and keeps the connection", function()
        with_traffic(server, function()
            local w = bad_client(server)
            local listener = support.raw(server:url("/c/bad?binary=true"))
            listener:wait_frames(1)
            w:send(2, "\1\2\3")
            -- the bystanders on "bad" (itty-style, no binary=true) get
            -- nothing of it and lose nothing (with_traffic counts)
            assert.is_true(wait_until(function() return #listener.binary == 1 end))
            assert.same({ "\1\2\3" }, listener.binary)
            w:text('"text still works"')
            assert.is_true(relayed(listener, "text still works"))
            w:pump()
            assert.same({}, errors(w))
            assert.is_nil(w.closed)
            assert.is_nil(w.eof)
            listener:close()
            w:kill()
        end)
    end)

    it("closes on every frame RFC 6455 forbids with 1002 and a reason", function()
        with_traffic(server, function()
            local protocol_errors = {
                { "bad opcode", function(w) w:send(3, "x") end },
                { "bad opcode", function(w) w:send(0xB, "x") end },
                { "reserved bits", function(w) w:send(1, '"x"', { rsv = 4 }) end },
                { "continuation without a message", function(w) w:send(0, '"x"') end },
                { "message in progress", function(w) w:send(1, '"a', { fin = false }) w:send(1, '"b"') end },
                { "fragmented control frame", function(w) w:send(9, "x", { fin = false }) end },
                { "control frame too long", function(w) w:send(9, string.rep("p", 200)) end },
                { "bad length", function(w) w:write("\129\255\128\0\0\0\0\0\0\0\0\0\0\0") end },
            }
            for _, case in ipairs(protocol_errors) do
                closes_with(server, case[2], 1002, case[1])
            end
        end)
    end)

    it("answers a close with a code past 4999, a 1-byte body or a non-UTF-8 reason with 1002", function()
        with_traffic(server, function()
            local cases = {
                { "code 5000", string.char(0x13, 0x88) .. "bye" },
                { "code 65535", string.char(0xff, 0xff) },
                { "a one-byte body", string.char(0x03) },
                { "a reason that is not UTF-8", string.char(0x03, 0xe8) .. "\255\254" },
                { "a reason cut inside a character", string.char(0x03, 0xe8) .. "caf\195" },
            }
            for _, case in ipairs(cases) do
                local w = bad_client(server)
                w:send(8, case[2])
                local closed = w:wait_closed()
                assert.same(1002, closed and closed.code, case[1])
                w:kill()
            end
            -- a valid close is still echoed as it came, UTF-8 reason included
            local w = bad_client(server)
            w:send(8, string.char(0x03, 0xe8) .. "caf\195\169")
            local closed = w:wait_closed()
            assert.same(1000, closed and closed.code)
            w:kill()
            w = bad_client(server)
            w:send(8, string.char(0x0f, 0xa0) .. "done")   -- 4000
            closed = w:wait_closed()
            assert.same(4000, closed and closed.code)
            w:kill()
        end)
    end)

    it("fails an unmasked client frame with 1002 and relays nothing of it (RFC 6455 5.1)", function()
        with_traffic(server, function()
            local w = bad_client(server)
            local listener = support.raw(server:url("/c/bad"))
            listener:wait_frames(1)
            w:send(1, '"unmasked"', { mask = false })
            local closed = w:wait_closed()
            assert.same(1002, closed and closed.code)
            assert.same("unmasked frame", closed.reason)
            w:kill()
            -- a masked message sent after it arrives; the unmasked one never did
            local ok = bad_client(server)
            ok:send(1, '"masked"')
            assert.is_true(relayed(listener, "masked"))
            for _, f in ipairs(listener.frames) do
                assert.is_not.same("unmasked", type(f) == "table" and f.message)
            end
            listener:close()
            ok:kill()
        end)
    end)

    it("closes fragmented floods with 1009: past max_message, announced too big, too many fragments", function()
        server:close()
        server = assert(sb.listen{ port = 0, max_message = 8192 })   -- at most 128 fragments
        with_traffic(server, function()
            local floods = {
                { "message too big", function(w)
                    w:send(1, '"', { fin = false })
                    for _ = 1, 100 do
                        if not w:send(0, string.rep("x", 1000), { fin = false }) then
                            break
                        end
                    end
                end },
                { "message too big", function(w)       -- a header announcing 4 GiB
                    w:write("\129\255\0\0\0\1\0\0\0\0\0\0\0\0" .. string.rep("x", 5000))
                end },
                { "too many fragments", function(w)    -- one byte each, well under max_message
                    w:send(1, '"', { fin = false })
                    for _ = 1, 1000 do
                        if not w:send(0, "x", { fin = false }) then
                            break
                        end
                    end
                end },
                { "too many fragments", function(w)    -- empty continuation frames forever
                    w:send(1, "", { fin = false })
                    for _ = 1, 1000 do
                        if not w:send(0, "", { fin = false }) then
                            break
                        end
                    end
                end },
            }
            for _, flood in ipairs(floods) do
                closes_with(server, flood[2], 1009, flood[1])
            end
            -- 100 fragments with a ping among them are one ordinary message
            local w = bad_client(server)
            local listener = support.raw(server:url("/c/bad"))
            listener:wait_frames(1)
            w:send(1, '"', { fin = false })
            for i = 1, 98 do
                w:send(0, "y", { fin = false })
                if i == 50 then
                    w:send(9, "ping")
                end
            end
            w:send(0, '"')
            assert.is_true(relayed(listener, string.rep("y", 98)))
            listener:close()
            w:kill()
        end)
    end)

    it("gets the 1009 close to a client still sending a 2 MiB frame, every time", function()
        local rawtcp = require "rawtcp"
        with_traffic(server, function()
            local big = string.rep("x", 2 * 1024 * 1024)
            local codes = {}
            for i = 1, 10 do
                local c
                if i % 2 == 1 then
                    -- the frame rides in the same write as the upgrade request
                    c = rawtcp.websocket_with(server.port, "/c/big", rawtcp.client_frame(1, big))
                else
                    c = rawtcp.websocket(server.port, "/c/big")
                    c:send(rawtcp.client_frame(1, big))
                end
                c:wait(function(x) return #x:of_op(8) > 0 or x.closed end, 5)
                local close = c:of_op(8)[1]
                local data = close and close.data or ""
                codes[i] = #data >= 2 and data:byte(1) * 256 + data:byte(2) or 1006
                c:close()
            end
            assert.same({ 1009, 1009, 1009, 1009, 1009, 1009, 1009, 1009, 1009, 1009 }, codes)
        end)
    end)

    it("forgets a client killed mid-frame: nothing of the frame is relayed, the others go on", function()
        local cuts = {
            { "\129", false },                                   -- half a header, then FIN
            { "\129\140\0\0", true },                            -- half a masking key, then RST
            { "\129\140\0\0\0\0\"half", true },                  -- half a payload, then RST
            { "\1\132\0\0\0\0\"par\128\130\0\0\0\0t", false },   -- a message cut between fragments
        }
        with_traffic(server, function()
            local listener = support.raw(server:url("/c/bad"))
            listener:wait_frames(1)
            for _, cut in ipairs(cuts) do
                local w = bad_client(server)
                local before = server.hub:connection_count("bad")
                w:write(cut[1])
                support.settle(0.02)
                w:kill(cut[2])
                assert.is_true(wait_until(function()
                    return server.hub:connection_count("bad") == before - 1
                end))
            end
            support.settle(0.05)
            for _, f in ipairs(listener.frames) do
                assert.is_not_equal("string", type(f.message))   -- no "half" or "par..."
            end
            listener:close()
        end)
    end)

    it("answers malformed JSON and bad direct messages with an error event and keeps the connection", function()
        local bad = {
            { "undefined", "invalid JSON at byte 0" },
            { '{"a":', "invalid JSON" },
            { '{"a" 1}', "invalid JSON at byte 5" },
            { "[1,2", "invalid JSON" },
            { "NaN", "invalid JSON" },
            { '{} trailing', "invalid JSON at byte 3" },
            { "", "invalid JSON" },
            { string.rep("[", 65) .. string.rep("]", 65), "too deep" },
            { '\31\31"x"', "bad direct message" },
            { '\31abc{"x":1}', "bad direct message" },
            { '\31nobody\31"x"', "user nobody not found" },
        }
        with_traffic(server, function()
            local w = bad_client(server)
            for i, case in ipairs(bad) do
                w:text(case[1])
                local f = wait_errors(w, i)[i]
                assert.same("error", f and f.type, case[1])
                assert.matches(case[2], f.message, 1, true)
            end
            assert.is_nil(w.closed)
            w:kill()
        end)
    end)

    it("relays unknown event types and JSON at the depth limit unchanged", function()
        with_traffic(server, function()
            local w = bad_client(server)
            local listener = support.raw(server:url("/c/bad"))
            listener:wait_frames(1)
            local deep = string.rep("[", 64) .. string.rep("]", 64)
            w:text('{"kind":"frobnicate","type":"no such type"}')
            w:text(deep)
            local function from_bad()
                local out = {}
                for _, t in ipairs(listener.texts) do
                    if not t:find('"from":"bad', 1, true) and t:find('"message":', 1, true) then
                        out[#out + 1] = t
                    end
                end
                return out
            end
            assert.is_true(wait_until(function() return #from_bad() >= 2 end))
            assert.matches('"message":{"kind":"frobnicate","type":"no such type"}}$', from_bad()[1])
            assert.is_truthy(from_bad()[2]:find('"message":' .. deep .. "}", 1, true))
            w:pump()
            assert.same({}, errors(w))   -- no error for either
            listener:close()
            w:kill()
        end)
    end)

    it("refuses a query parameter given twice with 400 on every protocol; key[] lists may repeat", function()
        with_traffic(server, function()
            for _, path in ipairs({ "/c/bad?token=bad&token=good", "/c/bad?alias=a&x=1&alias=b",
                                    "/socket/websocket?vsn=2.0.0&token=a&token=b" }) do
                local refused = support.wire(server.port, path)
                assert.same(400, refused.status, path)
                refused:kill()
            end
            local status, _, text = support.http(server.port,
                "GET /sse/bad?token=bad&token=good HTTP/1.1\r\nHost: x\r\n\r\n")
            assert.same(400, status)
            assert.matches("query parameter 'token' given twice", text, 1, true)
            status, _, text = support.http(server.port,
                "POST /sse/bad?event=a&event=b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            assert.same(400, status)
            assert.matches("query parameter 'event' given twice", text, 1, true)
            local ok = support.wire(server.port, "/c/bad?ids[]=1&ids[]=2")
            assert.same(101, ok.status)
            ok:kill()
        end)
    end)

    it("refuses a million-key message with 1009 and an over-long alias with 400", function()
        with_traffic(server, function()
            local w = bad_client(server)
            w:text(B.million_keys())
            local closed = w:wait_closed()
            assert.same(1009, closed and closed.code)
            w:kill()
            local refused = support.wire(server.port, "/c/bad?alias=" .. string.rep("a", 300))
            assert.same(400, refused.status)
            refused:kill()
        end)
    end)

    it("keeps a native connection to its one channel; hub:join past max_channels is refused", function()
        server:close()
        server = assert(sb.listen{ port = 0, max_channels = 3 })
        local conn
        server:on("open", function(c) conn = conn or c end)
        with_traffic(server, function()
            local w = bad_client(server)
            assert.is_true(wait_until(function() return conn ~= nil end))
            assert.is_true(server.hub:join("extra1", conn.member, conn))
            assert.is_true(server.hub:join("extra2", conn.member, conn))
            local ok, err, code = server.hub:join("extra3", conn.member, conn)
            assert.is_nil(ok)
            assert.same("ELIMIT", code)
            assert.matches("too many channels", err)
            w:kill()
        end)
    end)

    it("closes a reader that never reads with 1013; the others get everything, memory stays bounded", function()
        server:close()
        server = assert(sb.listen{ port = 0, max_queue = 256 * 1024 })
        local closes = {}
        server:on("close", function(c, code) closes[c.uid] = code end)
        with_traffic(server, function()
            local slow = support.wire(server.port, "/c/bad", { rcvbuf = 4096 })
            assert.is_true(wait_until(function() slow:pump() return #slow.texts >= 1 end))
            local slow_uid = json.decode(slow.texts[1]).uid
            -- a subscriber that counts and keeps nothing, and a publisher
            local got = 0
            local sub = assert(sb.core.ws_connect(sb.loop(), { host = "127.0.0.1", port = server.port,
                path = "/c/bad" }, { open = function() end, message = function() got = got + 1 end,
                error = function() end, close = function() end }))
            local pub = support.raw(server:url("/c/bad"))
            assert.is_true(wait_until(function() return got >= 1 and #pub.frames >= 1 end))
            got = 0
            collectgarbage()
            local before = B.rss_kb()
            -- 16 MB through the channel (64 times max_queue), as fast as the
            -- subscriber that reads takes it
            local payload = '"' .. string.rep("x", 4000) .. '"'
            local n = 4000
            for i = 1, n do
                pub:send(payload)
                if not wait_until(function() return i - got < 20 end) then
                    break   -- the subscriber stalled: the assertion below says so
                end
                if i % 200 == 0 then
                    collectgarbage()   -- so the reading side's garbage does not count
                end
            end
            assert.is_true(wait_until(function() return got >= n end), "subscriber got " .. got)
            assert.same(1013, closes[slow_uid])
            collectgarbage()
            -- a sanity bound, not a measurement: a queue that kept what the
            -- reader never took would hold over 13 MB here
            -- (not under ASan: its quarantine keeps freed memory resident)
            local grown = B.rss_kb() - before
            if os.getenv("SB_SPEC_LUA") ~= "asan" then
                assert.is_true(grown < 4 * 1024, "RSS grew by " .. grown .. " kB")
            end
            -- the reader, once it reads, finds its stream ended (the close
            -- frame, when it got through a full buffer, says 1013)
            slow:wait_closed()
            assert.truthy(slow.closed or slow.eof)
            if slow.closed then
                assert.same(1013, slow.closed.code)
            end
            sub:close(1000, "")
            pub:close()
            slow:kill()
        end)
    end)
end)

describe("bad SSE requests", function()
    local server

    before_each(function()
        server = assert(sb.listen{ port = 0, history = 10 })
        server.hub:publish("bad", "tick", { n = 0 })
    end)

    after_each(function()
        server:close()
        support.settle(0.02)
    end)

    -- GET /sse/bad with extra request text; returns the decoded events
    -- once `n` arrived, and the socket (still open).
    local function stream(path, headers, n)
        local http = require "http_helper"
        local c = http.open(server.port, "GET", path, headers or {})
        c:wait(function(x) return #x:events() >= n end)
        return c:events(), c
    end

    it("ends a stream that never reads once its queue is full; the others get everything", function()
        server:close()
        server = assert(sb.listen{ port = 0, max_queue = 256 * 1024 })
        local closes = {}
        server:on("close", function(c, code)
            if c.protocol == "sse" then
                closes[#closes + 1] = code
            end
        end)
        with_traffic(server, function()
            local slow = require("rawtcp").connect(server.port, { rcvbuf = 4096 })
            slow:send("GET /sse/bad HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert.is_true(wait_until(function() return #server:connections() >= 5 end))
            local got = 0
            local sub = assert(sb.core.ws_connect(sb.loop(), { host = "127.0.0.1", port = server.port,
                path = "/c/bad" }, { open = function() end, message = function() got = got + 1 end,
                error = function() end, close = function() end }))
            assert.is_true(wait_until(function() return got >= 1 end))
            got = 0
            -- 16 MB through the channel (64 times max_queue), as fast as
            -- the subscriber that reads takes it
            local payload = string.rep("x", 4000)
            local n = 4000
            for i = 1, n do
                server.hub:publish("bad", "tick", payload)
                if not wait_until(function() return i - got < 20 end) then
                    break   -- the subscriber stalled: the assertion below says so
                end
            end
            assert.is_true(wait_until(function() return got >= n end), "subscriber got " .. got)
            assert.is_true(wait_until(function() return #closes >= 1 end))
            assert.same({ 1013 }, closes)
            sub:close(1000, "")
            slow:close()
        end)
    end)

    it("answers a Last-Event-ID that is not ours with recovery-failed (bad-id) and streams on", function()
        local ids = {
            { { ["Last-Event-ID"] = "45cdc2e4-5b81" }, "45cdc2e4-5b81" },
            { { ["Last-Event-ID"] = "\255\254 1-2" }, "" },                       -- not ASCII: not echoed
            { { ["Last-Event-ID"] = string.rep("1", 300) }, "" },                -- too long
            { {}, "", "?lastEventId=" .. string.rep("2", 300) },                 -- too long, in the query
            { {}, "-1-2", "?x=" .. string.rep("a", 2000) .. "&lastEventId=-1-2" }, -- after a long arg
        }
        with_traffic(server, function()
            for _, case in ipairs(ids) do
                local events, c = stream("/sse/bad" .. (case[3] or ""), case[1], 2)
                local failed = events[2]
                assert.same("recovery-failed", failed and failed.event)
                local info = json.decode(failed.data)
                assert.same("bad-id", info.reason)
                assert.same(case[2], info.lastEventId)
                server.hub:publish("bad", "tick", { n = 1 })
                assert.is_true(c:wait(function(x) return #x:events() >= 3 end))
                c:close()
            end
        end)
    end)

    it("drops a request with %00 in its path or query; an encoded LF only cuts its own value", function()
        with_traffic(server, function()
            for _, req in ipairs({ "GET /sse/bad%00x", "GET /sse/bad?lastEventId=%00", "GET /c/bad%00" }) do
                local status, head = support.http(server.port, req .. " HTTP/1.1\r\nHost: x\r\n\r\n")
                assert.is_nil(status, req)
                assert.same("", head, req)
            end
            -- lws ends the request line at the decoded LF: the event name
            -- is cut to "a", the rest is read as a header of this request
            local _, c = stream("/sse/bad", {}, 1)
            local status = support.http(server.port, "POST /sse/bad?event=a%0Ab HTTP/1.1\r\nHost: x\r\n"
                .. "Content-Length: 7\r\n\r\n{\"k\":1}")
            assert.same(202, status)
            assert.is_true(c:wait(function(x)
                for _, ev in ipairs(x:events()) do
                    if ev.data == '{"k":1}' then
                        return true
                    end
                end
            end))
            local names = {}
            for _, ev in ipairs(c:events()) do
                if ev.data == '{"k":1}' then
                    names[#names + 1] = ev.event
                end
            end
            assert.same({ "a" }, names)
            c:close()
        end)
    end)

    it("answers a 50 MB POST with 413 while the client is still sending", function()
        with_traffic(server, function()
            local socket = require "socket"
            local c = socket.tcp()
            c:settimeout(0)
            c:connect("127.0.0.1", server.port)
            local pending = "POST /sse/bad HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                .. "Content-Length: 52428800\r\n\r\n"
            local chunk, sent, got = ("x"):rep(65536), 0, ""
            support.wait_until(function()
                if pending == "" then
                    pending = chunk
                end
                local n, err, part = c:send(pending)
                local k = n or part or 0
                sent, pending = sent + k, pending:sub(k + 1)
                local data, rerr, partial = c:receive(8192)
                got = got .. (data or partial or "")
                return got:find("\r\n\r\n.*}") or err == "closed" or rerr == "closed"
            end, 10)
            c:close()
            assert.matches("^HTTP/1.1 413 Content Too Large\r\n", got)
            assert.matches('{"error":"body over 65536 bytes"}', got, 1, true)
            -- at once: long before the 50 MB, or the drain bound (2 MB), went out
            assert.is_true(sent < 2 * 1024 * 1024, sent .. " bytes were sent first")
        end)
    end)

    it("refuses bad channels, methods and event names with a JSON error; drops a huge request", function()
        with_traffic(server, function()
            local bad = {
                { "GET /sse/bad%20name", 400, "bad channel name" },
                { "GET /sse/", 400, "bad channel name" },
                { "GET /sse/" .. string.rep("c", 256), 400, "bad channel name" },
                { "DELETE /sse/bad", 405, "use GET" },
                { "POST /sse/bad?event=" .. string.rep("e", 100), 400, "event must be", "{}" },
                { "POST /sse/bad?event=a%01b", 400, "event must be", "{}" },
            }
            for _, case in ipairs(bad) do
                local body = case[4]
                local status, _, text = support.http(server.port, case[1] .. " HTTP/1.1\r\nHost: x\r\n" ..
                    (body and ("Content-Length: " .. #body .. "\r\n") or "") .. "\r\n" .. (body or ""))
                assert.same(case[2], status, case[1])
                assert.matches(case[3], json.decode(text).error, 1, true)
            end
            -- past lws's 4 KiB of URI and headers: dropped without an answer
            local status, head = support.http(server.port, "GET /sse/bad?x=" .. string.rep("a", 8000) ..
                " HTTP/1.1\r\nHost: x\r\n\r\n")
            assert.is_nil(status)
            assert.same("", head)
        end)
    end)
end)
