-- The bad-input catalogue of docs/hardening.md on a Phoenix socket: one
-- wire client (spec/support.lua) sends the bad input while Phoenix
-- bystanders on its topic and another exchange a counted stream
-- (spec/badinput_helper.lua); the bad client gets the documented answer,
-- the bystanders every message, and the server still takes new sockets.
local json = require "switchboard.json"
local support = require "support"
local B = require "badinput_helper"

local wait_until = support.wait_until

-- A wire client on the Phoenix socket, joined to room:bad with ref "1".
local function bad_socket(server, vsn)
    local w = support.wire(server.port, "/socket/websocket?vsn=" .. (vsn or "2.0.0"))
    assert.same(101, w.status)
    if vsn == "1.0.0" then
        w:text('{"topic":"room:bad","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}')
    else
        w:text('["1","1","room:bad","phx_join",{}]')
    end
    assert.is_true(wait_until(function() w:pump() return #w.texts >= 1 end))
    return w
end

-- The replies (phx_reply frames, V2) the wire client got, decoded; kept
-- on w and extended, so waiting on thousands stays linear.
local function replies(w)
    local frames, out = w:json(), w.replies or {}
    for i = (w.replies_seen or 0) + 1, #frames do
        local f = frames[i]
        if type(f) == "table" and f[4] == "phx_reply" then
            out[#out + 1] = f
        end
    end
    w.replies, w.replies_seen = out, #frames
    return out
end

local function wait_replies(w, n, timeout)
    wait_until(function() w:pump() return #replies(w) >= n or w.closed or w.eof end, timeout)
    return replies(w)
end

-- Still a working socket: a heartbeat gets its reply.
local function heartbeat_ok(w, ref)
    w:text('[null,"' .. ref .. '","phoenix","heartbeat",{}]')
    return wait_until(function()
        w:pump()
        for _, f in ipairs(replies(w)) do
            if f[2] == ref and f[3] == "phoenix" and f[5].status == "ok" then
                return true
            end
        end
        return false
    end)
end

-- Runs body() with bystanders on "room:bad" and "room:calm", then checks
-- that they lost nothing and that the server still serves.
local function with_traffic(server, body)
    assert(B.with_traffic(server, "phoenix", "room:bad", "room:calm", body))
end

describe("bad input on a Phoenix socket", function()
    local server

    after_each(function()
        server:close()
        support.settle(0.02)
    end)

    it("closes on invalid UTF-8 in a text frame with 1007", function()
        server = B.phoenix_server()
        with_traffic(server, function()
            local w = bad_socket(server)
            w:text('["1","2","room:bad","shout",{"x":"\255"}]')
            local closed = w:wait_closed()
            assert.same(1007, closed and closed.code)
            w:kill()
        end)
    end)

    it("answers malformed frames with an error reply on topic phoenix and keeps the socket", function()
        server = B.phoenix_server()
        local bad = {
            { "not json", "malformed message at byte 0" },
            { '["1","2","room:bad","shout"', "malformed message" },
            { "[1,2,3]", "expected exactly 5 array elements" },
            { '{"topic":"room:bad","event":"shout","payload":{},"ref":"2"}', "expected a JSON array" },
            { '["1",2,"room:bad","shout",{}]', "ref must be a string or null" },
            { '["1","2",5,"shout",{}]', "topic must be a string" },
            { '["1","2","room:bad",null,{}]', "event must be a string" },
            { '["1","2","room:bad","shout",' .. string.rep("[", 64) .. string.rep("]", 64) .. "]",
              "nesting too deep" },
            { '["1","2","room:bad","shout",{"x":1}] junk', "malformed message" },
        }
        with_traffic(server, function()
            local w = bad_socket(server)
            for i, case in ipairs(bad) do
                w:text(case[1])
                local r = wait_replies(w, i + 1)[i + 1]
                assert.is_table(r, case[1])
                assert.same({ json.null, json.null, "phoenix", "phx_reply" }, { r[1], r[2], r[3], r[4] })
                assert.same("error", r[5].status)
                assert.matches(case[2], r[5].response.reason, 1, true)
            end
            -- a well-formed message with a payload that is not an object
            -- fails on its own topic and ref
            w:text('["1","7","room:bad","shout","just a string"]')
            local r = wait_replies(w, #bad + 2)[#bad + 2]
            assert.same({ "1", "7", "room:bad" }, { r[1], r[2], r[3] })
            assert.same("payload must be a JSON object", r[5].response.reason)
            assert.is_true(heartbeat_ok(w, "99"))
            w:kill()
        end)
    end)

    it("answers malformed binary frames with an error reply; a V1 socket is told binary needs V2", function()
        server = B.phoenix_server()
        with_traffic(server, function()
            local w = bad_socket(server)
            local bad = {
                { "\0\1", "binary header cut off" },
                { "\0\1\1\8\5jrtoolong", "binary field runs past the frame end" },
                { "\1\0\0\0\0", "clients may only send binary pushes" },
                { "\0\0\1\8\5\255room:badshout", "binary string field is not UTF-8" },
            }
            for i, case in ipairs(bad) do
                w:send(2, case[1])
                local r = wait_replies(w, i + 1)[i + 1]
                assert.is_table(r, case[2])
                assert.same("phoenix", r[3])
                assert.matches("^malformed binary message at byte %d+: ", r[5].response.reason)
                assert.truthy(r[5].response.reason:find(case[2], 1, true))
            end
            assert.is_true(heartbeat_ok(w, "98"))
            w:kill()
            local v1 = bad_socket(server, "1.0.0")
            v1:send(2, "\0\1\1\8\5" .. "12room:badshout" .. "\1\2")
            assert.is_true(wait_until(function()
                v1:pump()
                for _, t in ipairs(v1.texts) do
                    if t:find('"topic":"phoenix"', 1, true) and t:find("binary frames need vsn=2.0.0", 1, true) then
                        return true
                    end
                end
                return false
            end))
            v1:kill()
        end)
    end)

    it("answers unknown topics and events with error replies", function()
        server = B.phoenix_server()
        with_traffic(server, function()
            local w = bad_socket(server)
            w:text('["2","2","nope:1","phx_join",{}]')
            w:text('["3","3","room:other","shout",{}]')
            w:text('["1","4","room:bad","no_such_event",{}]')
            w:text('["1","5","room:bad","phx_reply",{}]')
            local r = wait_replies(w, 5)
            assert.same({ "nope:1", "unmatched topic" }, { r[2][3], r[2][5].response.reason })
            assert.same({ "room:other", "unmatched topic" }, { r[3][3], r[3][5].response.reason })
            assert.same({ "4", "unhandled event" }, { r[4][2], r[4][5].response.reason })
            assert.same({ "5", "unhandled event" }, { r[5][2], r[5][5].response.reason })
            w:kill()
        end)
    end)

    it("answers a join flood: 100 topics joined, the rest too many channels joined; rejoins all answered", function()
        server = B.phoenix_server()
        with_traffic(server, function()
            local w = bad_socket(server)
            local frames = {}
            for i = 1, 3000 do
                frames[i] = support.ws_frame(1, ('["j%d","j%d","room:flood%d","phx_join",{}]'):format(i, i, i))
            end
            assert.is_true(w:write(table.concat(frames)))
            local r = wait_replies(w, 3001)
            local ok, full = 0, 0
            for i = 2, #r do
                local reason = r[i][5].response.reason
                ok = ok + (r[i][5].status == "ok" and 1 or 0)
                full = full + (reason == "too many channels joined" and 1 or 0)
            end
            assert.same({ 99, 2901 }, { ok, full })   -- room:bad is the 100th
            -- the same topic a thousand times: each join ends the previous one
            for i = 1, 1000 do
                frames[i] = support.ws_frame(1, ('["r%d","r%d","room:bad","phx_join",{}]'):format(i, i))
            end
            assert.is_true(w:write(table.concat(frames, "", 1, 1000)))
            r = wait_replies(w, 4001)
            assert.same(4001, #r)
            assert.same({ "r1000", "ok" }, { r[4001][2], r[4001][5].status })
            assert.is_true(heartbeat_ok(w, "97"))
            w:kill()
        end)
    end)

    it("joins 10,000 channels on one socket when max_channels allows, and no more", function()
        server = B.phoenix_server({ max_channels = 10000, max_rate = false })
        with_traffic(server, function()
            local w = bad_socket(server)
            local frames = {}
            for i = 1, 10000 do
                frames[i] = support.ws_frame(1, ('["j%d","j%d","room:t%d","phx_join",{}]'):format(i, i, i))
            end
            assert.is_true(w:write(table.concat(frames)))
            local r = wait_replies(w, 10001, 30)
            assert.same(10001, #r)
            local ok = 0
            for i = 2, #r do
                ok = ok + (r[i][5].status == "ok" and 1 or 0)
            end
            assert.same(9999, ok)   -- with room:bad, 10,000
            assert.same("too many channels joined", r[10001][5].response.reason)
            assert.same(1, server.hub:connection_count("room:t9999"))
            w:kill(true)
            assert.is_true(wait_until(function() return server.hub:connection_count("room:t1") == 0 end))
        end)
    end)

    it("refuses a million-key presence meta with 1009; a meta within max_message reaches the others", function()
        server = B.phoenix_server()
        with_traffic(server, function()
            local w = support.wire(server.port, "/socket/websocket?vsn=2.0.0")
            w:text('["1","1","room:bad","phx_join",{"nick":"huge","meta":' .. B.million_keys() .. "}]")
            local closed = w:wait_closed()
            assert.same(1009, closed and closed.code)
            assert.is_nil(server.hub:presence_state("room:bad").huge)
            w:kill()
            -- too deep is refused before any app code runs
            w = support.wire(server.port, "/socket/websocket?vsn=2.0.0")
            w:text('["1","1","room:bad","phx_join",{"nick":"deep","meta":' ..
                string.rep("[", 64) .. string.rep("]", 64) .. "}]")
            assert.matches("nesting too deep", wait_replies(w, 1)[1][5].response.reason)
            assert.is_nil(server.hub:presence_state("room:bad").deep)
            w:kill()
            -- 3,000 keys (about 40 KB) are within the limit
            local keys = {}
            for i = 1, 3000 do
                keys[i] = '"k' .. i .. '":' .. i
            end
            local watcher = support.raw(server:url("/socket/websocket?vsn=2.0.0"))
            assert.is_true(watcher:wait_open())
            watcher:send('["1","1","room:bad","phx_join",{}]')
            assert.is_true(wait_until(function()
                local first = watcher.frames[1]
                return first ~= nil and first[2] == "1" and first[5].status == "ok"
            end))
            w = support.wire(server.port, "/socket/websocket?vsn=2.0.0")
            w:text('["1","1","room:bad","phx_join",{"nick":"big","meta":{' .. table.concat(keys, ",") .. "}}]")
            assert.is_true(wait_until(function()
                for _, f in ipairs(watcher.frames) do
                    if f[4] == "presence_diff" and f[5].joins.big then
                        return f[5].joins.big.metas[1].k3000 == 3000
                    end
                end
                return false
            end))
            watcher:close()
            w:kill()
        end)
    end)
end)
