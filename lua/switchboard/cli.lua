--- Command-line helpers shared by the `switchboard` command and the
-- example scripts: option parsing, the "listening on" line, and running
-- the loop until SIGINT or SIGTERM, then shutting the server down cleanly.
local options = require "switchboard.options"

local M = {}

--- Parses `--name value` and `--name=value` options into a table.
-- `defaults` names every accepted option and gives its default; a number
-- default makes the option numeric.  -h/--help sets opts.help, --version
-- opts.version.  Returns opts, or nil, message.
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
        elseif a == "--version" then
            opts.version = true
            i = i + 1
        else
            local name, value = a:match("^%-%-([%w_-]+)=(.*)$")
            local flag = not name
            if flag then
                name = a:match("^%-%-([%w_-]+)$")
            end
            if not name then
                return nil, ("unexpected argument %q"):format(a)
            end
            name = name:gsub("-", "_")
            if defaults[name] == nil then
                local known = {}
                for k in pairs(defaults) do
                    known[#known + 1] = k
                end
                table.sort(known)
                local near = options.suggest(name, known)
                if near then
                    return nil, ("unknown option --%s (did you mean --%s?)")
                        :format(name:gsub("_", "-"), (near:gsub("_", "-")))
                end
                return nil, ("unknown option --%s"):format((name:gsub("_", "-")))
            end
            if flag and type(defaults[name]) == "boolean" then
                value = "true"            -- a switch: --no-events
            elseif flag then
                value = argv[i + 1]
                i = i + 1
            end
            if type(defaults[name]) == "boolean" then
                if value ~= "true" and value ~= "false" then
                    return nil, ("option --%s is a switch (true or false), got %q"):format(name, value)
                end
                value = value == "true"
            end
            if value == nil then
                return nil, ("option --%s needs a value"):format(name)
            end
            if type(defaults[name]) == "number" and type(value) ~= "boolean" then
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

-- The option names of defaults: host and port first, the rest by name.
local function ordered(defaults)
    local names = {}
    for k in pairs(defaults) do
        names[#names + 1] = k
    end
    table.sort(names, function(a, b)
        local order = { host = 1, port = 2 }
        local x, y = order[a] or 3, order[b] or 3
        if x ~= y then
            return x < y
        end
        return a < b
    end)
    return names
end

--- A usage line from the defaults: "[--host 127.0.0.1] [--port 8080]".
function M.usage(defaults)
    local names = ordered(defaults)
    local parts = {}
    for _, k in ipairs(names) do
        if type(defaults[k]) == "boolean" then
            parts[#parts + 1] = ("[--%s]"):format((k:gsub("_", "-")))
        else
            -- an empty default (an option that is off) shows its name
            local shown = defaults[k] == "" and k:upper() or tostring(defaults[k])
            parts[#parts + 1] = ("[--%s %s]"):format((k:gsub("_", "-")), shown)
        end
    end
    return table.concat(parts, " ")
end

--- The --help text: the usage line, then one line per option with its
-- description (descriptions[name]) and default.
function M.help(defaults, descriptions, name)
    descriptions = descriptions or {}
    local rows = {}
    for _, k in ipairs(ordered(defaults)) do
        local flag = "--" .. k:gsub("_", "-")
        local d = defaults[k]
        if type(d) ~= "boolean" then
            flag = flag .. " " .. (type(d) == "number" and "N" or k:upper())
        end
        local text = descriptions[k] or ""
        if type(d) ~= "boolean" and d ~= "" then
            text = text .. (text ~= "" and " " or "") .. ("(default %s)"):format(tostring(d))
        end
        rows[#rows + 1] = { flag, text }
    end
    rows[#rows + 1] = { "--version", "print the version and exit" }
    rows[#rows + 1] = { "-h, --help", "print this help and exit" }
    local width = 0
    for _, r in ipairs(rows) do
        width = math.max(width, #r[1])
    end
    local lines = { ("usage: %s %s"):format(name or "switchboard", M.usage(defaults)), "", "options:" }
    for _, r in ipairs(rows) do
        lines[#lines + 1] = ("  %-" .. width .. "s  %s"):format(r[1], r[2])
    end
    return table.concat(lines, "\n") .. "\n"
end

-- A message raised by start(opts) when it is a misuse the API refused
-- (nil for anything else), as one line in the command's terms: no
-- "file:line:" position, no API prefix, and `option 'port'` said as --port.
local function raised_message(err, defaults)
    local msg = tostring(err):gsub("^[^\n]-:%d+: ", "", 1)
    if not msg:match("^switchboard[%w_.]*: ") then
        return nil
    end
    msg = msg:gsub("^switchboard%.listen: ", "", 1):gsub("\n.*$", "")
    return (msg:gsub("option '([%w_]+)'", function(k)
        if defaults[k] ~= nil then
            return "--" .. k:gsub("_", "-")
        end
    end))
end


--- Runs the loop until SIGINT or SIGTERM (watched on the loop, so either
-- wakes it at once), then closes `server`: every connection gets 1001
-- "going away" after what is queued for it.  Returns the signal's name.
-- SIGHUP is logged and ignored: its default action kills the process
-- without a close frame, and a closed terminal or a `kill -HUP` meant to
-- reload must not drop every client (there is nothing to reload: the
-- options are read once, and the log is stdout/stderr).
-- opts: onerror = fn, name = the command's name for the log line.
function M.run_until_signal(sb, server, opts)
    opts = opts or {}
    local stopped
    local watchers = {
        sb.on_signal("INT", function() stopped = stopped or "SIGINT"; sb.stop() end),
        sb.on_signal("TERM", function() stopped = stopped or "SIGTERM"; sb.stop() end),
        sb.on_signal("HUP", function()
            io.stderr:write(("%s: SIGHUP ignored (SIGINT or SIGTERM stops)\n")
                :format(opts.name or "switchboard"))
            io.stderr:flush()
        end),
    }
    if opts.onerror then
        sb.onerror(opts.onerror)
    end
    while not stopped do
        sb.run()
        if not stopped and sb.loop():users() == 0 then
            break
        end
    end
    for _, w in ipairs(watchers) do
        w:cancel()
    end
    M.shutdown(sb, server)
    return stopped
end

--- Closes the server (each connection gets 1001 after its queue) and turns
-- the loop until they are gone, at most `grace` seconds.  `server` is a
-- switchboard server or an app object holding one in `.server`.
function M.shutdown(sb, server, grace)
    if not server then
        return
    end
    local srv = server.server or server
    local deadline = sb.now_ms() + (grace or 2) * 1000
    server:close()
    while #srv:connections() > 0 and sb.now_ms() < deadline do
        sb.step(0.02)
    end
end

--- The whole life of a command: parse argv against defaults, call
-- start(opts) -> server (or nil, err), print where it listens, run until a
-- signal.  Returns a process exit code: 0 after a signal (or for --help,
-- --version), 2 for a usage error (one line on stderr: a bad option, or a
-- combination start refuses by raising), 1 when start returns nil, err.
-- extra (optional): { descriptions = { name = one line }, check =
-- fn(opts) -> nil | message }.
function M.main(sb, argv, defaults, start, name, extra)
    extra = extra or {}
    name = name or "switchboard"
    local opts, err = M.parse_args(argv or {}, defaults)
    if opts and extra.check and not opts.help and not opts.version then
        err = extra.check(opts)
        opts = not err and opts or nil
    end
    if not opts then
        io.stderr:write(("%s: %s; see --help\n"):format(name, err))
        return 2
    end
    if opts.help then
        io.stdout:write(M.help(defaults, extra.descriptions, name))
        return 0
    end
    if opts.version then
        print("switchboard " .. tostring(sb.version))
        return 0
    end
    local ok, server, serr = xpcall(function() return start(opts) end, function(e)
        return { e = e, trace = debug.traceback(tostring(e), 2) }
    end)
    if not ok then
        local msg = raised_message(server.e, defaults)
        if not msg then
            error(server.trace, 0)     -- a bug, not a usage error: keep the trace
        end
        io.stderr:write(("%s: %s\n"):format(name, msg))
        return 2
    end
    if not server then
        io.stderr:write(("%s: %s\n"):format(name or "switchboard", tostring(serr)))
        return 1
    end
    -- every address bound (a name may resolve to several), never the
    -- name asked for: the line shows what is actually reachable
    local urls = {}
    for _, a in ipairs(server.addresses or (server.server or {}).addresses or { server.host }) do
        urls[#urls + 1] = ("http://%s:%d"):format(a, server.port)
    end
    print("listening on " .. table.concat(urls, ", "))
    io.stdout:flush()
    local signal = M.run_until_signal(sb, server, { name = name })
    io.stderr:write(("%s: %s, stopped\n"):format(name or "switchboard", signal))
    return 0
end

return M
