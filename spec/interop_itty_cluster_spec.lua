-- The real npm itty-sockets client against three switchboard nodes that
-- share a real redis-server: joins, counts, messages and leaves cross the
-- nodes, and a node killed with SIGKILL takes its clients along.  Nodes A
-- and B run in this process, node C (spec/redis_relay_node.lua) in one of
-- its own.  The Node script (spec/interop/itty/cluster.mjs) asks for its
-- steps through files; this spec turns the loop and answers them.
local sb = require "switchboard"
local async = require "async_helpers"
local support = require "support"
local interop = require "interop_helper"
local R = require "redis_helper"

local FIXTURE = "spec/interop/itty"
local DEADLINE = 60
local TTL = 1

local readfile = support.readfile

local function skip_reason()
    if not R.have_redis() then
        return "redis-server is not installed"
    end
    return interop.skip_reason(FIXTURE, { "itty-sockets", "ws" })
end

describe("npm itty-sockets against a cluster of three nodes", function()
    local state = { reason = skip_reason(), results = {} }
    local fx = R.fixture()

    setup(function()
        if state.reason then
            return
        end
        fx.start()
        local a = fx.listen("itty-a", { node_ttl = TTL })
        local b = fx.listen("itty-b", { node_ttl = TTL })
        local cport = R.free_port()
        local kill = assert(R.spawn_relay(fx.redis.url, "itty-c", TTL, cport))
        assert(R.connected(a.hub, b.hub), "nodes A and B never synced with Redis")
        assert(async.wait_for(function() return a.hub:cluster_stats().nodes == 2 end, 10),
            "node A never heard node C")

        local tag = tostring(sb.now_ms() % 1000000)
        local function base(port) return ("ws://127.0.0.1:%d/c/"):format(port) end
        local out, log, pid = interop.spawn(FIXTURE, "cluster.mjs",
            { base(a.port), base(b.port), base(cport) }, { tag })
        local function answer(name)
            local f = assert(io.open(out .. "." .. name .. ".ok", "w"))
            f:close()
            os.remove(out .. "." .. name)
        end
        local function steps()
            -- the steps the script asks for
            if readfile(out .. ".known") and b.hub:connection_count("itty-cl-" .. tag) == 1 then
                answer("known")
            end
            if readfile(out .. ".kill") then
                kill()
                answer("kill")
            end
        end
        state.results, state.failure = interop.results(out, log, pid, DEADLINE, steps)
        state.results = state.results or {}
        kill()
        for _, f in ipairs({ out .. ".known.ok", out .. ".kill.ok" }) do
            os.remove(f)
        end
        fx.close_all()
    end)

    teardown(function()
        if not state.reason then
            fx.stop()
        end
    end)

    for _, name in ipairs { "joins, counts and leaves across nodes", "a SIGKILLed node's clients leave" } do
        it(name, interop.check(state, name, pending))
    end
end)
