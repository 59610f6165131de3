--- Helpers for the browser specs (not a spec itself): whether Node,
-- puppeteer-core (spec/browser/, `make node-deps`) and Chromium are there,
-- and a run of one of the drivers in spec/browser/ while this process
-- turns the loop (the servers under test live here), answering the
-- driver's asks (stop or start a server) as they come.
local sb = require "switchboard"
local cjson = require "cjson"
local support = require "support"

local M = {}

M.dir = "spec/browser"
M.chromium = os.getenv("SB_CHROMIUM") or "/usr/bin/chromium"

local function ok(cmd)
    local r = os.execute(cmd .. " >/dev/null 2>&1")
    return r == true or r == 0
end

--- nil when the browser specs can run here, else why not (for pending()).
function M.missing()
    local lua = os.getenv("SB_SPEC_LUA")
    if lua and lua ~= "lua5.4" then
        -- the pages and the browser are the same on every Lua: once is enough
        -- (and under ASan the preloaded runtime would reach node and Chromium)
        return "the browser specs run once, on lua5.4 (this run: " .. lua .. ")"
    end
    if not ok("command -v node") then
        return "node not found"
    end
    if not io.open(M.dir .. "/node_modules/puppeteer-core/package.json") then
        return "spec/browser/node_modules missing (make node-deps)"
    end
    if not ok("test -x " .. M.chromium) then
        return M.chromium .. " not found (Debian package chromium; make deps)"
    end
    return nil
end

local function read_lines(path)
    local f = io.open(path)
    if not f then
        return {}
    end
    local lines = {}
    for line in f:lines() do
        lines[#lines + 1] = line
    end
    f:close()
    return lines
end

--- Runs `node spec/browser/<script> <args...>` in the background and
-- turns the loop until it prints {"done": ...} or {"error": ...}, or
-- `timeout` seconds pass.  Each {"ask": X} line calls on_ask(X) once, in
-- order.  Returns { scenarios = { [name] = line }, done = line, error =
-- text, stderr = text, seconds = n }.
function M.run(script, args, on_ask, timeout)
    local out, err, pidfile = os.tmpname(), os.tmpname(), os.tmpname()
    local cmd = ("node %s/%s %s >%s 2>%s & echo $! >%s"):format(M.dir, script,
        table.concat(args, " "), out, err, pidfile)
    local started = sb.now_ms()
    os.execute(cmd)
    local result, handled = { scenarios = {} }, 0
    local finished = support.wait_for(function()
        local lines = read_lines(out)
        for i = handled + 1, #lines do
            local okj, v = pcall(cjson.decode, lines[i])
            if okj and type(v) == "table" then
                if v.ask then
                    on_ask(v.ask)
                elseif v.scenario then
                    result.scenarios[v.scenario] = v
                elseif v.done then
                    result.done = v
                elseif v.error then
                    result.error = v.error
                end
            end
            handled = i
        end
        return result.done or result.error
    end, timeout or 120)
    if not finished then
        -- still running: stop it (its pid, written by the shell above)
        local pid = read_lines(pidfile)[1]
        if pid and pid:match("^%d+$") then
            os.execute("kill " .. pid .. " 2>/dev/null")
        end
        result.error = result.error or ("no answer from " .. script .. " within " .. (timeout or 120) .. " s")
    end
    local f = io.open(err)
    result.stderr = f and f:read("*a") or ""
    if f then
        f:close()
    end
    result.seconds = (sb.now_ms() - started) / 1000
    if result.error then
        io.stderr:write(script, ": ", result.error, "\n", result.stderr, "\n")
    end
    os.remove(out)
    os.remove(err)
    os.remove(pidfile)
    return result
end

--- The errors a driver collected, one per line, for an assertion message.
function M.show_errors(errors)
    local lines = {}
    for _, e in ipairs(errors or {}) do
        lines[#lines + 1] = ("%s %s: %s"):format(e.who, e.kind, e.text)
    end
    return table.concat(lines, "\n")
end

return M
