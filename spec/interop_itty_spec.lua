-- The real npm itty-sockets 0.6.1 client, under Node with `ws` as its
-- WebSocket, against switchboard's relay running in this process.  The
-- fixture (spec/interop/itty: package.json, package-lock.json, run.mjs)
-- is installed by `npm ci` from scripts/node-deps.sh during `make test`.
-- Node runs in the background and writes its results to a file, which
-- this spec waits for while it turns the loop, up to a deadline.
local sb = require "switchboard"
local json = require "switchboard.json"
local relay = require "switchboard.relay"
local async = require "async_helpers"
local support = require "support"

local FIXTURE = "spec/interop/itty"
local DEADLINE = 60

local readfile, alive = support.readfile, support.alive

local function command_exists(name)
    local p = io.popen("command -v " .. name .. " 2>/dev/null")
    local found = p:read("*a")
    p:close()
    return found ~= ""
end

-- Why the interop run cannot happen here, or nil when it can.
local function skip_reason()
    if not command_exists("node") then
        return "node not found: install Node 20 to run the itty-sockets interop spec"
    end
    if not readfile(FIXTURE .. "/node_modules/itty-sockets/package.json")
        or not readfile(FIXTURE .. "/node_modules/ws/package.json") then
        return "itty-sockets not installed: run `make node-deps` (npm ci in " .. FIXTURE .. ")"
    end
    return nil
end

-- Starts the node script against `port`; returns the results path, the
-- log path and the pid.
local function spawn(port)
    local out = os.tmpname()
    os.remove(out)
    local pidfile, log = out .. ".pid", out .. ".log"
    os.execute(("cd %s && node run.mjs ws://127.0.0.1:%d/c/ %s >%s 2>&1 & echo $! >%s")
        :format(FIXTURE, port, out, log, pidfile))
    local pid = (readfile(pidfile) or ""):match("%d+")
    os.remove(pidfile)
    return out, log, pid
end

describe("npm itty-sockets 0.6.1 against the relay", function()
    local reason = skip_reason()
    local results, failure = {}, nil

    setup(function()
        if reason then
            return
        end
        local server = assert(relay.listen({ port = 0 }))
        local out, log, pid = spawn(server.port)
        local last_check = 0
        local done = async.wait_for(function()
            if readfile(out) then
                return true
            end
            -- a crashed node writes nothing: notice it without waiting
            -- for the deadline (at most twice a second)
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
        server:close()
        async.settle(0.05)
        os.remove(out)
        os.remove(log)
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

    scenario("join counts")
    scenario("alias, as, announce and echo")
    scenario("direct messages")
    scenario("error for an unknown uid")
    scenario("1000 messages in order")
    scenario("push then close")
    scenario("ArrayBuffers beside itty clients")
end)
