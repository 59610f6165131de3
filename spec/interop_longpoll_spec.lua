-- The real npm `phoenix` 1.8.16 client over its LongPoll transport (Node
-- 20, spec/interop/phoenix/longpoll.js) against a server in this process,
-- alone and beside WebSocket clients of the same rooms, and its
-- longPollFallbackMs fallback behind a proxy that lets no WebSocket
-- through.  Pending (with the reason) when node or the npm fixture is
-- missing.
local json = require "switchboard.json"
local H = require "phx_helper"
local rooms = require "phx_rooms"

local DIR = "spec/interop/phoenix"

local function skip_reason()
    return H.node_skip_reason(DIR, "phoenix")
end

describe("npm phoenix client over LongPoll", function()
    local results, log, closes, opened, tokens

    setup(function()
        if skip_reason() then
            return
        end
        -- short windows, so the run sees empty polls and a session expire
        local srv = rooms.start({ longpoll = { window = 1, timeout = 2 } })
        closes, opened, tokens = {}, 0, {}
        srv:on("connect", function(conn, req)
            if conn.transport == "longpoll" and req.token then
                tokens[#tokens + 1] = req.token
            end
        end)
        srv:on("open", function(conn)
            if conn.transport == "longpoll" then
                opened = opened + 1
            end
        end)
        srv:on("close", function(conn, code)
            if conn.transport == "longpoll" then
                closes[#closes + 1] = code
            end
        end)
        local out = os.tmpname()
        os.execute(("cd %s && node longpoll.js %d > %s 2>&1 &"):format(DIR, srv.port, out))
        H.wait(function() return H.read_all(out):find("RESULT ", 1, true) end, 120)
        log = H.read_all(out)
        os.remove(out)
        local line = log:match("RESULT ([^\n]+)")
        results = line and json.decode(line)
        -- node has gone without a word to its sessions: they expire
        H.wait(function() return #closes >= opened end, 6)
        srv:close()
        H.settle(0.05)
    end)

    local function check(name, fn)
        it(name, function()
            local why = skip_reason()
            if why then
                pending(why)
                return
            end
            assert(results, "node printed no result:\n" .. tostring(log))
            for k, v in pairs(results) do
                assert(not k:match("_failed$"), k .. ": " .. tostring(v))
            end
            fn(results)
        end)
    end

    check("joins, gets replies and refusals over LongPoll", function(r)
        assert.equal("LongPoll", r.transport)
        assert.same({ status = "ok", resp = { welcome = true, topic = "room:lp" } }, r.join)
        assert.same({ status = "ok", resp = { answer = 42 } }, r.push_ok)
        assert.same({ status = "error", resp = { reason = "no way" } }, r.push_error)
        assert.same({ status = "error", resp = { reason = "unauthorized" } }, r.refused)
    end)

    check("shares rooms with WebSocket clients, broadcasts both ways", function(r)
        assert.same({ longpoll = { { from = "websocket" } }, websocket = { { from = "longpoll" } } },
            r.broadcast)
    end)

    check("Presence merges state and diffs from both transports", function(r)
        assert.same({ carol = 1, alice = 2, bob = 1 }, r.presence_before)
        assert.same({ carol = 1, alice = 2 }, r.presence_after)
        assert.truthy(r.presence_syncs >= 4)
    end)

    check("an idle session lives through empty polls", function(r)
        assert.same({ connected = true, closes = 0, push = "ok" }, r.idle)
    end)

    check("a session the server ended: 410, reconnect (3410), rejoin with a fresh join_ref", function(r)
        assert.same({ joins = 2, fresh_ref = true, eve = 1, close_codes = { 3410 } }, r.gone)
    end)

    check("sends the authToken, which the connect hook sees as req.token", function(r)
        assert.equal("ok", r.auth)
        assert.same({ "lp-secret" }, tokens)
    end)

    check("falls back to LongPoll after longPollFallbackMs when the upgrade hangs", function(r)
        local f = r.fallback_timeout
        assert.is_true(f.longpoll)
        assert.is_true(f.after_ms >= 700 and f.after_ms < 3000, "opened after " .. f.after_ms .. " ms")
        assert.equal("ok", f.join)
        assert.same({ status = "ok", resp = { answer = 42 } }, f.push)
    end)

    check("falls back at once when the upgrade is refused", function(r)
        local f = r.fallback_error
        assert.is_true(f.longpoll)
        assert.is_true(f.after_ms < 2000, "opened after " .. f.after_ms .. " ms")
        assert.equal("ok", f.join)
        assert.same({ status = "ok", resp = { answer = 42 } }, f.push)
    end)

    check("sessions of a client that went away end after the timeout", function()
        assert.truthy(opened >= 8)
        assert.equal(opened, #closes)
    end)
end)
