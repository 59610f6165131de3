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

--- The options of `switchboard api` (an empty string: unset, so the
-- environment or the built-in default applies).
M.api_defaults = { url = "", key = "", timeout = 10, insecure = false }

M.api_descriptions = {
    url = "the server API's URL (else $SWITCHBOARD_API_URL, else http://127.0.0.1:8080/api)",
    key = "the API key (else $SWITCHBOARD_API_KEY)",
    timeout = "seconds to wait for the answer",
    insecure = "https: accept any certificate",
}

--- One call of a server API (docs/api.md): POSTs body (JSON text) to
-- <url>/<method> with the key and turns the loop until the answer.
-- Returns the HTTP status and the answer's body, or nil, err.
function M.api_call(sb, url, key, method, body, opts)
    local util = require "switchboard.util"
    local target, err = util.parse_http_url(url)
    if not target then
        return nil, err
    end
    opts = opts or {}
    local path = target.path:gsub("/+$", "") .. "/" .. method
    local status, answer, why
    local req
    req, err = sb.core.http_request(sb.loop(), {
        host = target.host, port = target.port, path = path, tls = target.tls,
        insecure = opts.insecure, method = "POST", body = body, timeout = opts.timeout or 10,
        headers = { { "content-type", "application/json" }, { "x-api-key", key },
            { "user-agent", "switchboard/" .. tostring(sb.version) } },
    }, function(s, b, e) status, answer, why = s, b, e end)
    if not req then
        return nil, err
    end
    while status == nil do
        sb.step(0.05)
    end
    if status == 0 then
        return nil, why
    end
    return status, answer or ""
end

local API_USAGE = "switchboard api METHOD [JSON | -] [--url URL] [--key KEY] [--timeout S] [--insecure]"

--- The --help text of `switchboard api`.
function M.api_help()
    local methods = table.concat(options.schemas.api_methods, ", ")
    return table.concat({
        "usage: " .. API_USAGE, "",
        "Calls one method of a switchboard server's API (docs/api.md) and prints its",
        "JSON answer.  JSON is the call's body (default {}), - reads it from stdin.",
        "methods: " .. methods, "",
        M.help(M.api_defaults, M.api_descriptions, "switchboard api METHOD [JSON]"):match("options:.*"),
        "exit: 0 answered 2xx, 1 an error answer or no answer, 2 a usage error",
        "",
    }, "\n")
end

-- argv -> method, body, opts | nil, message.
local function api_args(argv, getenv)
    local method, body = argv[1], nil
    local rest = {}
    for i = 2, #argv do
        if i == 2 and argv[i]:sub(1, 2) ~= "--" then
            body = argv[i]
        else
            rest[#rest + 1] = argv[i]
        end
    end
    local opts, err = M.parse_args(rest, M.api_defaults)
    if not opts then
        return nil, err
    end
    opts.url = opts.url ~= "" and opts.url or getenv("SWITCHBOARD_API_URL") or "http://127.0.0.1:8080/api"
    opts.key = opts.key ~= "" and opts.key or getenv("SWITCHBOARD_API_KEY")
    if not opts.key or opts.key == "" then
        return nil, "no API key: give --key KEY or set SWITCHBOARD_API_KEY"
    end
    return method, body, opts
end

--- `switchboard api METHOD [JSON]`: returns the exit code.  env (for
-- the specs) may give getenv, stdin, stdout and stderr; else os.getenv
-- and the io files.
function M.api_main(sb, argv, env)
    local json = require "switchboard.json"
    env = env or {}
    local getenv = env.getenv or os.getenv
    local out, err = env.stdout or io.stdout, env.stderr or io.stderr
    local method = argv[1]
    if method == nil or method == "-h" or method == "--help" then
        out:write(M.api_help())
        return method == nil and 2 or 0
    elseif method == "--version" then
        out:write("switchboard " .. tostring(sb.version) .. "\n")
        return 0
    end
    local body, opts
    method, body, opts = api_args(argv, getenv)
    if not method then
        err:write(("switchboard api: %s; see --help\n"):format(body))
        return 2
    end
    if body == "-" then
        body = (env.stdin or io.stdin):read("*a")
    end
    body = body or "{}"
    if json.decode(body) == nil and not body:match("^%s*null%s*$") then
        err:write("switchboard api: the body is not JSON: " .. body:sub(1, 80) .. "\n")
        return 2
    end
    local status, answer = M.api_call(sb, opts.url, opts.key, method, body,
        { timeout = opts.timeout, insecure = opts.insecure })
    if not status then
        err:write(("switchboard api: no answer from %s: %s\n"):format(opts.url, answer))
        return 1
    end
    out:write(answer, "\n")
    if status >= 200 and status < 300 then
        return 0
    end
    local decoded = json.decode(answer)
    local e = type(decoded) == "table" and type(decoded.error) == "table" and decoded.error or {}
    err:write(("switchboard api: %d %s: %s\n"):format(status, tostring(e.code or "error"),
        tostring(e.message or answer)))
    return 1
end

return M
