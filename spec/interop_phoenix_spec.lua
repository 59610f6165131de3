-- The real npm `phoenix` 1.8.16 client and its Presence class (Node 20,
-- spec/interop/phoenix/run.js) against a server in this process.  The spec
-- steps the loop while node runs, then checks what every scenario saw.
-- Pending (with the reason) when node or the npm fixture is missing.
local json = require "switchboard.json"
local H = require "phx_helper"
local rooms = require "phx_rooms"

local DIR = "spec/interop/phoenix"

local function skip_reason()
    return H.node_skip_reason(DIR, "phoenix")
end

local read_all = H.read_all

describe("npm phoenix client interop", function()
    local results, log

    setup(function()
        if skip_reason() then
            return
        end
        local srv = rooms.start({ phoenix_timeout = 1 })
        local out = os.tmpname()
        -- in the background, so the loop keeps serving while node runs
        os.execute(("cd %s && node run.js %d > %s 2>&1 &"):format(DIR, srv.port, out))
        H.wait(function() return read_all(out):find("RESULT ", 1, true) end, 90)
        log = read_all(out)
        os.remove(out)
        local line = log:match("RESULT ([^\n]+)")
        results = line and json.decode(line)
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

    check("joins with the reply payload", function(r)
        assert.same({ status = "ok", resp = { welcome = true, topic = "room:lobby" } }, r.join)
    end)

    check("gets the refusal reason", function(r)
        assert.same({ status = "error", resp = { reason = "unauthorized" } }, r.refused)
    end)

    check("gets ok, error and a local timeout for pushes", function(r)
        assert.same({ status = "ok", resp = { answer = 42 } }, r.push_ok)
        assert.same({ status = "error", resp = { reason = "no way" } }, r.push_error)
        assert.equal("timeout", r.push_timeout)
    end)

    check("broadcast_from reaches the other socket only", function(r)
        assert.same({ { x = 1 } }, r.broadcast.other)
        assert.same({}, r.broadcast.sender)
    end)

    check("Presence lists a two-tab user as one key with two metas", function(r)
        assert.same({ carol = 1, alice = 2, bob = 1 }, r.presence_before)
        assert.same({ carol = 1, alice = 1, bob = 1 }, r.presence_after)
        assert.truthy(r.presence_syncs >= 4)
    end)

    check("heartbeats keep an idle socket past the server's idle timeout", function(r)
        assert.same({ connected = true, closes = 0 }, r.heartbeat)
    end)

    check("rejoins with a fresh join_ref and presence after the server drops it", function(r)
        assert.same({ joins = 2, fresh_ref = true, eve = 1 }, r.rejoin)
    end)

    check("binary push, reply, push and broadcast", function(r)
        assert.same({ status = "ok", bytes = { 0xde, 0xad } }, r.binary.reply)
        assert.same({ 1, 2, 3 }, r.binary.push)
        assert.same({ 0xde, 0xad }, r.binary.bcast)
    end)

    check("connects with an authToken (subprotocol phoenix selected)", function(r)
        assert.is_true(r.auth)
    end)
end)
