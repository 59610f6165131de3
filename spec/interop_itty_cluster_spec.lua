-- The real npm itty-sockets client against three switchboard nodes that
-- share a real redis-server: joins, counts, messages and leaves cross the
-- nodes, and a node killed with SIGKILL takes its clients along.  Nodes A
-- and B run in this process, node C (spec/redis_relay_node.lua) in one of
-- its own.  The Node script (spec/interop/itty/cluster.mjs) asks for its
-- steps through files; this spec turns the loop and answers them.
local sb = require "switchboard"
local json = require "switchboard.json"
local async = require "async_helpers"
local support = require "support"
local R = require "redis_helper"

local FIXTURE = "spec/interop/itty"
local DEADLINE = 60
local TTL = 1

local readfile, alive = support.readfile, support.alive

local function skip_reason()
    if not R.have_redis() then
        return "redis-server is not installed"
    end
    local p = io.popen("command -v node 2>/dev/null")
    local found = p:read("*a")
    p:close()
    if found == "" then
        return "node not found: install Node 20 to run the itty-sockets interop spec"
    end
    if not readfile(FIXTURE .. "/node_modules/itty-sockets/package.json") then
        return "itty-sockets not installed: run `make node-deps` (npm ci in " .. FIXTURE .. ")"
    end
    return nil
end

describe("npm itty-sockets against a cluster of three nodes", function()
    local reason = skip_reason()
    local fx = R.fixture()
    local results, failure = {}, nil

    setup(function()
        if reason then
            return
        end
        fx.start()
        local a = fx.listen("itty-a", { node_ttl = TTL })
        local b = fx.listen("itty-b", { node_ttl = TTL })
        local cport = R.free_port()
        local ready = os.tmpname()
        os.remove(ready)
        local child = assert(io.popen(("echo $$; exec %s spec/redis_relay_node.lua %s itty-c %s %d %s")
            :format(support.LUA, fx.redis.url, TTL, cport, ready)))
        local cpid = child:read("*l")
        local killed = false
        local function kill()
            if not killed then
                killed = true
                os.execute("kill -9 " .. cpid)
                child:close()
            end
        end
        assert(async.wait_for(function() return readfile(ready) ~= nil end, 10), "node C did not start")
        os.remove(ready)
        assert(R.connected(a.hub, b.hub), "nodes A and B never synced with Redis")
        assert(async.wait_for(function() return a.hub:cluster_stats().nodes == 2 end, 10),
            "node A never heard node C")

        local tag = tostring(sb.now_ms() % 1000000)
        local out = os.tmpname()
        os.remove(out)
        local pidfile, log = out .. ".pid", out .. ".log"
        local function base(port) return ("ws://127.0.0.1:%d/c/"):format(port) end
        os.execute(("cd %s && node cluster.mjs %s %s %s %s %s >%s 2>&1 & echo $! >%s")
            :format(FIXTURE, base(a.port), base(b.port), base(cport), out, tag, log, pidfile))
        local pid = (readfile(pidfile) or ""):match("%d+")
        os.remove(pidfile)
        local function answer(name)
            local f = assert(io.open(out .. "." .. name .. ".ok", "w"))
            f:close()
            os.remove(out .. "." .. name)
        end
        local last_check = 0
        local done = async.wait_for(function()
            if readfile(out) then
                return true
            end
            -- steps the script asks for
            if readfile(out .. ".known") and b.hub:connection_count("itty-cl-" .. tag) == 1 then
                answer("known")
            end
            if readfile(out .. ".kill") then
                kill()
                answer("kill")
            end
            local now = sb.now_ms()
            if now - last_check > 500 then
                last_check = now
                if not alive(pid) and not readfile(out) then
                    return "died"
                end
            end
            return false
        end, DEADLINE)
        if done ~= true then
            if alive(pid) then
                os.execute("kill " .. pid)
            end
            failure = ("node %s: %s"):format(done == "died" and "exited early" or "timed out",
                readfile(log) or "(no output)")
        else
            for _, r in ipairs(json.decode(readfile(out)) or {}) do
                results[r.name] = r
            end
        end
        kill()
        for _, f in ipairs({ out, log, out .. ".known.ok", out .. ".kill.ok" }) do
            os.remove(f)
        end
        fx.close_all()
    end)

    teardown(function()
        if not reason then
            fx.stop()
        end
    end)

    local function scenario(name)
        it(name, function()
            if reason then
                pending(reason)
                return
            end
            assert(not failure, failure)
            local r = results[name]
            assert(r, "the node script reported nothing for '" .. name .. "'")
            assert(r.ok, name .. ": " .. tostring(r.detail))
        end)
    end

    scenario("joins, counts and leaves across nodes")
    scenario("a SIGKILLed node's clients leave")
end)
