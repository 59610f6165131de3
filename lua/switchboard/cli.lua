--- Command-line helpers shared by the `switchboard` command and the
-- example scripts: option parsing, the "listening on" line, and running
-- the loop until SIGINT or SIGTERM, then shutting the server down cleanly.
local M = {}

--- Parses `--name value` and `--name=value` options into a table.
-- `defaults` names every accepted option and gives its default; a number
-- default makes the option numeric.  Returns opts, or nil, message.
function M.parse_args(argv, defaults)
    local opts = {}
    for k, v in pairs(defaults) do
        opts[k] = v
    end
    local i = 1
    while argv[i] ~= nil do
        local a = argv[i]
        if a == "-h" or a == "--help" then
            opts.help = true
            i = i + 1
        else
            local name, value = a:match("^%-%-([%w_-]+)=(.*)$")
            if not name then
                name = a:match("^%-%-([%w_-]+)$")
                value = argv[i + 1]
                i = i + 1
            end
            if not name then
                return nil, ("unexpected argument %q"):format(a)
            end
            name = name:gsub("-", "_")
            if defaults[name] == nil then
                return nil, ("unknown option --%s"):format(name)
            end
            if value == nil then
                return nil, ("option --%s needs a value"):format(name)
            end
            if type(defaults[name]) == "number" then
                local n = tonumber(value)
                if not n or n < 0 or n ~= math.floor(n) then
                    return nil, ("option --%s wants a whole number >= 0, got %q"):format(name, value)
                end
                value = n
            end
            opts[name] = value
            i = i + 1
        end
    end
    return opts
end

--- A usage line from the defaults: "[--host 127.0.0.1] [--port 8080]".
function M.usage(defaults)
    local names = {}
    for k in pairs(defaults) do
        names[#names + 1] = k
    end
    table.sort(names, function(a, b)
        -- host and port first, the rest by name
        local order = { host = 1, port = 2 }
        local x, y = order[a] or 3, order[b] or 3
        if x ~= y then
            return x < y
        end
        return a < b
    end)
    local parts = {}
    for _, k in ipairs(names) do
        parts[#parts + 1] = ("[--%s %s]"):format(k:gsub("_", "-"), tostring(defaults[k]))
    end
    return table.concat(parts, " ")
end

local SIGINT, SIGTERM = 2, 15

-- lua.c answers SIGINT by making the next Lua instruction raise this.
local function is_interrupt(err)
    return type(err) == "string" and err:find("interrupted!", 1, true) ~= nil
end

--- Runs the loop until SIGINT or SIGTERM, then closes `server` and lets
-- the close frames go out.  Returns the name of the signal that stopped it.
--
-- Two mechanisms, best first:
-- * `core.on_signal(signum, fn)` (a uv_signal_t on the loop) when the C
--   core has it: both signals wake the loop at once.
-- * otherwise the stand-alone interpreter's own SIGINT handler (lua.c sets
--   a hook that raises "interrupted!" in the next Lua code): caught here by
--   a pcall around the loop, or, when it lands inside a callback that the
--   core runs under its own pcall, by the error hook.  The loop is turned
--   from Lua in bounded steps so Lua code runs at least every `tick`
--   seconds; SIGTERM then keeps its default action (the process ends).
function M.run_until_signal(sb, server, opts)
    opts = opts or {}
    local tick = opts.tick or 0.25
    local stopped
    local function stop(name)
        stopped = stopped or name
        sb.stop()
    end
    local core = sb.core
    if type(core.on_signal) == "function" then
        core.on_signal(SIGINT, function() stop("SIGINT") end)
        core.on_signal(SIGTERM, function() stop("SIGTERM") end)
    end
    local report = opts.onerror or function(where, message)
        io.stderr:write(("switchboard: error in %s: %s\n"):format(where, tostring(message)))
    end
    sb.onerror(function(where, message)
        if is_interrupt(message) then
            stop("SIGINT")
        else
            report(where, message)
        end
    end)
    local ok, err = pcall(function()
        while not stopped do
            -- sb.timeout() refreshes libuv's clock; without it a step that
            -- follows slow Lua work can sleep until the next lws timer
            -- (up to 30 s) instead of `tick` (csrc/loop.c sb_loop_step)
            sb.timeout()
            sb.step(tick)
        end
    end)
    if not ok then
        if not is_interrupt(err) then
            error(err, 0)
        end
        stopped = "SIGINT"
    end
    M.shutdown(sb, server)
    return stopped
end

--- Closes every connection with 1001 "going away", waits for them (at most
-- `grace` seconds), then closes the server.  `server` is a switchboard
-- server or an app object holding one in `.server` and having :close().
function M.shutdown(sb, server, grace)
    if not server then
        return
    end
    local deadline = sb.now_ms() + (grace or 0.5) * 1000
    -- server:close() drops live connections without a close frame (their
    -- clients see 1006), so say goodbye first.  The server keeps no public
    -- list of its connections: _conns is server.lua's own table.
    local conns = (server.server or server)._conns
    if type(conns) == "table" then
        for _, conn in pairs(conns) do
            conn:close(1001, "server shutting down")
        end
        while next(conns) ~= nil and sb.now_ms() < deadline do
            sb.timeout()
            sb.step(0.02)
        end
    end
    server:close()
    -- a few short turns let the vhost and its sockets go
    for _ = 1, 5 do
        sb.timeout()
        sb.step(0.01)
    end
end

--- The whole life of a command: parse argv against defaults, call
-- start(opts) -> server (or nil, err), print where it listens, run until a
-- signal.  Returns a process exit code.
function M.main(sb, argv, defaults, start, name)
    local opts, err = M.parse_args(argv or {}, defaults)
    local usage = ("usage: %s %s"):format(name or "switchboard", M.usage(defaults))
    if not opts then
        io.stderr:write(err, "\n", usage, "\n")
        return 2
    end
    if opts.help then
        print(usage)
        return 0
    end
    local server, serr = start(opts)
    if not server then
        io.stderr:write(("%s: %s\n"):format(name or "switchboard", tostring(serr)))
        return 1
    end
    print(("listening on http://%s:%d"):format(server.host, server.port))
    io.stdout:flush()
    local signal = M.run_until_signal(sb, server)
    io.stderr:write(("%s: %s, stopped\n"):format(name or "switchboard", signal))
    return 0
end

return M
