-- The examples as processes, the way people run them: each prints where it
-- listens and, on SIGINT, closes its connections and exits with status 0.
local async = require "async_helpers"
local support = require "support"

-- LUA: the interpreter running this spec, so the child finds the same C module
local LUA, readfile, alive = support.LUA, support.readfile, support.alive

-- Starts `script` on port 0 in the background; returns the output path
-- and a function reading the pid once the shell has written it.
local function spawn(script, args)
    local out = os.tmpname()
    local pidfile = out .. ".pid"
    os.execute(("sh -c '%s %s --port 0 %s >%s 2>&1 & echo $! >%s; wait $!; echo exit=$? >>%s' &")
        :format(LUA, script, args or "", out, pidfile, out))
    return out, pidfile
end

-- Starts `cmd` and waits for its "listening on" line; returns the port,
-- the pid, the output path and the line's addresses.
local function start(cmd, args)
    local out, pidfile = spawn(cmd, args)
    local port = async.wait_for(function()
        return (readfile(out) or ""):match("listening on http://127%.0%.0%.1:(%d+)")
    end, 10)
    local pid = (readfile(pidfile) or ""):match("%d+")
    os.remove(pidfile)
    assert.truthy(port, "no 'listening on' line: " .. tostring(readfile(out)))
    assert.truthy(pid)
    return tonumber(port), pid, out
end

describe("example scripts as processes", function()
    local cases = {
        { "examples/relay.lua", "/c/anything", "--history 10" },
        { "examples/chat.lua", "/c/room:lobby?alias=tester" },
        { "examples/lobby.lua", "/c/lobby", "--max-players 3" },
        { "examples/ticker.lua", "/c/ticker" },
    }
    for _, case in ipairs(cases) do
        local script, path, args = case[1], case[2], case[3]
        it(script .. " prints where it listens and exits 0 on SIGINT", function()
            local port, pid, out = start(script, args)
            local client = async.client(port, path, {})
            assert.truthy(async.wait_for(function() return client.opened end))

            os.execute("kill -INT " .. pid)
            assert.truthy(async.wait_for(function() return client.closed end, 5))
            assert.truthy(async.wait_for(function()
                return not alive(pid) and (readfile(out) or ""):find("exit=%d+")
            end, 5))
            local text = readfile(out)
            os.remove(out)
            assert.truthy(text:find("SIGINT, stopped", 1, true), text)
            assert.equal("0", text:match("exit=(%d+)"), text)
            client.c:close()
        end)
    end

    -- SIGHUP's default action kills the process (exit 129, every client
    -- 1006): the servers log it and go on; SIGTERM still stops them
    -- cleanly, with 1001 to the clients.
    local hup_cases = {
        { "examples/relay.lua", "/c/anything", "relay" },
        { "examples/chat.lua", "/c/room:lobby?alias=tester", "chat" },
        { "bin/switchboard relay", "/c/anything", "switchboard relay" },
    }
    for _, case in ipairs(hup_cases) do
        local cmd, path, name = case[1], case[2], case[3]
        it(cmd .. " logs SIGHUP and keeps serving; SIGTERM closes with 1001 and exits 0", function()
            local port, pid, out = start(cmd)
            local client = async.client(port, path, {})
            assert.truthy(async.wait_for(function() return client.opened end))

            os.execute("kill -HUP " .. pid)
            local line = name .. ": SIGHUP ignored"
            assert.truthy(async.wait_for(function()
                return (readfile(out) or ""):find(line, 1, true) or not alive(pid)
            end, 5))
            local text = readfile(out) or ""
            assert.truthy(text:find(line, 1, true), text)
            assert.truthy(alive(pid), text)
            assert.is_false(client.closed)
            -- still serving: a new client opens and hears the first one
            local other = async.client(port, path, {})
            assert.truthy(async.wait_for(function() return other.opened end))
            client.c:send("after hup")
            assert.truthy(async.wait_for(function()
                for _, e in ipairs(other.events) do
                    if e.message == "after hup" then
                        return true
                    end
                end
            end), "no message relayed after SIGHUP")

            os.execute("kill -TERM " .. pid)
            assert.truthy(async.wait_for(function() return client.closed and other.closed end, 5))
            assert.equal(1001, client.closed.code)
            assert.truthy(async.wait_for(function()
                return not alive(pid) and (readfile(out) or ""):find("exit=%d+")
            end, 5))
            text = readfile(out)
            os.remove(out)
            assert.truthy(text:find("SIGTERM, stopped", 1, true), text)
            assert.equal("0", text:match("exit=(%d+)"), text)
            client.c:close()
            other.c:close()
        end)
    end
end)
