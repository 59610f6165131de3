-- The real npm `pusher` server library 5.3.4 (spec/interop/pusher-server/)
-- under Node against the Pusher HTTP API of a server in this process
-- (docs/pusher-http.md): triggers, batches and queries signed by the
-- library, and Pusher-format webhooks received by a sink in the node
-- script that checks them with the library's own validator.  The fixture
-- is installed by `npm ci` from scripts/node-deps.sh.  The script's
-- scenarios are listed in run.mjs; what its triggers did to this
-- process's native and Phoenix clients is checked here.
local sb = require "switchboard"
local socket = require "socket"
local async = require "async_helpers"
local interop = require "interop_helper"
local support = require "support"
local H = require "phx_helper"

local FIXTURE = "spec/interop/pusher-server"
local DEADLINE = 30

-- A port nobody listens on now, for the node script's webhook sink.
local function free_port()
    local s = assert(socket.bind("127.0.0.1", 0))
    local _, port = s:getsockname()
    s:close()
    return port
end

describe("npm pusher 5.3.4 against the Pusher HTTP API", function()
    local state = { reason = interop.skip_reason(FIXTURE, { "pusher" }), results = {} }
    local nat, pres, phx

    setup(function()
        if state.reason then
            return
        end
        local sink = free_port()
        local server = assert(sb.listen({ port = 0,
            pusher = { app_id = "1234", key = "interop-key", secret = "interop-secret" },
            -- the sink starts with the script: the first batch may need a retry
            webhooks = { url = ("http://127.0.0.1:%d/hooks"):format(sink), format = "pusher",
                backoff = { initial = 0.2, max = 0.5 } } }))
        server:on("connect", function(conn, req) conn.member = req.query.user or conn.member end)
        server:channel("interop", { join = function() return {} end })
        -- with pusher on, native clients reach presence- channels only
        -- through a join handler (docs/pusher.md#security)
        server:channel("presence-*", { join = function() return true end })
        nat = support.raw(server:url("/c/interop"))
        pres = support.raw(server:url("/c/presence-interop?user=ana"))
        assert.is_true(nat:wait_open() and pres:wait_open())
        phx = H.open(server.port, "/socket/websocket?vsn=2.0.0")
        phx:send('["1","1","interop","phx_join",{}]')
        assert.truthy(H.wait(function() return phx:find(function(m) return m[4] == "phx_reply" end) end))
        local out, log, pid = interop.spawn(FIXTURE, "run.mjs",
            { ("http://127.0.0.1:%d"):format(server.port), tostring(sink) })
        state.results, state.failure = interop.results(out, log, pid, DEADLINE)
        state.results = state.results or {}
        -- what the triggers sent has arrived by now: the answers came after
        async.settle(0.1)
        nat:close()
        pres:close()
        phx.close()
        server:close()
        async.settle(0.05)
    end)

    for _, name in ipairs {
        "trigger", "trigger to several channels with info", "triggerBatch", "get channels",
        "get channel", "get users", "a wrong secret is refused with 401",
        "users of a channel that is no presence channel: 400",
        "a trigger reaches pusher-js, JSON as an object and text as text",
        "webhooks are valid for the library",
    } do
        it(name, interop.check(state, name, pending))
    end

    -- a Phoenix broadcast of `topic`: [join_ref, ref, topic, event, payload]
    local function phx_event(event)
        return phx:find(function(m) return m[3] == "interop" and m[4] == event end)
    end

    it("a trigger reaches a native client and a Phoenix client", function()
        if state.reason then
            pending(state.reason)
            return
        end
        assert.same({ hello = "world" }, nat:of_type("greet")[1].message)
        assert.same({ hello = "world" }, phx_event("greet")[5])
        -- data that is no JSON (the library sends a string as it is)
        assert.equal("plain text", nat:of_type("many")[1].message)
        assert.equal("plain text", pres:of_type("many")[1].message)
        assert.same({ n = 2 }, nat:of_type("batch-2")[1].message)
        assert.same({ n = 1 }, phx_event("batch-1")[5])
        -- the refused trigger reached nobody
        assert.same({}, nat:of_type("never"))
        assert.is_nil(phx_event("never"))
    end)
end)
