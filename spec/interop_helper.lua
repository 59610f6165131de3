-- What the interop specs share: whether a Node fixture can run, starting
-- its script in the background, and waiting for the results file it
-- writes while this process turns the loop (not a spec itself).
local sb = require "switchboard"
local json = require "switchboard.json"
local async = require "async_helpers"
local support = require "support"

local M = {}

local readfile, alive = support.readfile, support.alive

--- Why the Node fixture in `dir` cannot run here (node missing, or one of
-- `modules` not installed), or nil when it can.
function M.skip_reason(dir, modules)
    local p = io.popen("command -v node 2>/dev/null")
    local found = p:read("*a")
    p:close()
    if found == "" then
        return "node not found: install Node 20 to run the interop specs"
    end
    for _, m in ipairs(modules) do
        if not readfile(("%s/node_modules/%s/package.json"):format(dir, m)) then
            return ("%s not installed: run `make node-deps` (npm ci in %s)"):format(m, dir)
        end
    end
    return nil
end

--- Starts `node SCRIPT ARGS... RESULTS [EXTRA...]` in `dir`; returns the
-- results path, the log path and the pid.
function M.spawn(dir, script, args, extra)
    local out = os.tmpname()
    os.remove(out)
    local pidfile, log = out .. ".pid", out .. ".log"
    os.execute(("cd %s && node %s %s %s %s >%s 2>&1 & echo $! >%s")
        :format(dir, script, table.concat(args, " "), out, table.concat(extra or {}, " "), log, pidfile))
    local pid = (readfile(pidfile) or ""):match("%d+")
    os.remove(pidfile)
    return out, log, pid
end

--- The common case: a server from listen() (a function of opts), the
-- fixture's run.mjs given the server's ws://127.0.0.1:PORT/c/ URL, its
-- results in state.results (state.failure: why none), the server closed.
-- Does nothing when state.reason says the fixture is not installed.
function M.run_fixture(state, dir, listen, deadline)
    if state.reason then
        return
    end
    local server = assert(listen({ port = 0 }))
    local out, log, pid = M.spawn(dir, "run.mjs", { ("ws://127.0.0.1:%d/c/"):format(server.port) })
    state.results, state.failure = M.results(out, log, pid, deadline)
    state.results = state.results or {}
    server:close()
    async.settle(0.05)
end

--- Turns the loop until the script wrote `out` (calling each_turn, if
-- given, on the way), it died, or `deadline` seconds passed.  Returns the
-- results by scenario name, or nil and why.  Removes out and log.
function M.results(out, log, pid, deadline, each_turn)
    local last_check = 0
    local done = async.wait_for(function()
        if readfile(out) then
            return true
        end
        if each_turn then
            each_turn()
        end
        -- a crashed node writes nothing: notice it without waiting for the
        -- deadline (at most twice a second)
        local now = sb.now_ms()
        if now - last_check > 500 then
            last_check = now
            if not alive(pid) and not readfile(out) then
                return "died"
            end
        end
        return false
    end, deadline)
    local results, failure = {}, nil
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
    os.remove(out)
    os.remove(log)
    if failure then
        return nil, failure
    end
    return results
end

--- The body of the `it` for scenario `name`: asserts what the script
-- reported for it, or calls `pending` (busted's, which a helper module
-- cannot see) with the reason the fixture cannot run.
function M.check(state, name, pending)
    return function()
        if state.reason then
            pending(state.reason)
            return
        end
        assert(not state.failure, state.failure)
        local r = state.results[name]
        assert(r, "the node script reported nothing for '" .. name .. "'")
        assert(r.ok, name .. ": " .. tostring(r.detail))
    end
end

return M
