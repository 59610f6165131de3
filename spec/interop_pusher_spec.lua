-- The real npm pusher-js 8.6.0 (its Node build, spec/interop/pusher-js/run.js)
-- against a server in this process, with native and Phoenix clients of
-- this process in the same channels.  The spec steps the loop while node
-- runs (answering the client event pusher-js sends), then checks what
-- every scenario saw.  Pending (with the reason) when node or the npm
-- fixture is missing.
local sb = require "switchboard"
local json = require "switchboard.json"
local support = require "support"
local H = require "phx_helper"

local DIR = "spec/interop/pusher-js"

local function skip_reason()
    return H.node_skip_reason(DIR, "pusher-js")
end

-- The server of the file: the auth endpoint signs every subscription but
-- private-denied's, presence users come from the auth request.
local function start()
    local srv = assert(sb.listen({ port = 0, pusher = { app_id = "1", key = "app-key",
        secret = "app-secret", client_events = true,
        authorize = function(req)
            if req.channel_name == "private-denied" then
                return nil, "not you"
            end
            return { user_id = req.params.user_id, user_info = { name = req.params.user_id } }
        end } }))
    local peers = {}
    srv:channel("interop-news", {
        join = function(conn)
            if conn.protocol == "pusher" then
                sb.after(0.05, function()
                    srv.hub:publish("interop-news", "headline", { title = "hello" })
                    peers.native:send('{"text":"from native"}')
                    peers.phx:send('["1","9","interop-news","shout",{"loud":true}]')
                end)
            end
            return true
        end,
        on = { shout = function(_, topic, payload)
            srv.hub:publish(topic, "shout", payload)
            return {}
        end },
    })
    srv:channel("private-mixed", { join = function() return true end })
    peers.native = support.raw(srv:url("/c/interop-news"))
    peers.mixed = support.raw(srv:url("/c/private-mixed"))
    peers.phx = H.open(srv.port, "/socket/websocket?vsn=2.0.0")
    peers.phx:send('["1","1","interop-news","phx_join",{}]')
    peers.phx:send('["2","2","private-mixed","phx_join",{}]')
    assert(peers.native:wait_open() and peers.mixed:wait_open())
    return srv, peers
end

describe("npm pusher-js interop", function()
    local results, log, peers

    setup(function()
        if skip_reason() then
            return
        end
        local srv
        srv, peers = start()
        local out = os.tmpname()
        os.execute(("cd %s && node run.js %d > %s 2>&1 &"):format(DIR, srv.port, out))
        local answered = false
        H.wait(function()
            -- the native client answers pusher-js's client event
            if not answered and #peers.mixed:of_type("client-ping") > 0 then
                answered = true
                peers.mixed:send('{"text":"pong"}')
            end
            return H.read_all(out):find("RESULT ", 1, true)
        end, 60)
        log = H.read_all(out)
        os.remove(out)
        local line = log:match("RESULT ([^\n]+)")
        results = line and json.decode(line)
        peers.phx.close()
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

    check("subscribes and receives what the server, native and Phoenix clients publish", function(r)
        assert.same({ title = "hello" }, r.news.headline)
        assert.same({ text = "from native" }, r.news.message.message)
        assert.same({ loud = true }, r.news.shout)
    end)

    check("presence with two users: members, member_added, member_removed", function(r)
        assert.equal("ann", r.presence.me)
        assert.equal(2, r.presence.count_first)
        assert.equal(2, r.presence.count_second)
        assert.same({ { id = "bob", info = { name = "bob" } } }, r.presence.added)
        assert.same({ "bob" }, r.presence.removed)
        assert.equal(1, r.presence.count_after)
    end)

    check("client events reach the other pusher-js client, not the sender", function(r)
        assert.same({ a = {}, b = { { x = 1 } } }, r.client_events)
    end)

    check("client events reach native and Phoenix clients, and their messages come back", function(r)
        assert.same({ from = "pusher-js" }, peers.mixed:of_type("client-ping")[1].message)
        local got = peers.phx:find(function(m) return m[4] == "client-ping" end)
        assert.same({ from = "pusher-js" }, got and got[5])
        assert.same({ text = "pong" }, r.mixed_reply.message)
    end)

    check("a refused authorization is a subscription_error with the HTTP status", function(r)
        assert.same({ status = "error", http = 403, type = "AuthError" }, r.refused)
    end)
end)
