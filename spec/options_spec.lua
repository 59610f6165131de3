-- Every options table the API takes is checked by one schema
-- (lua/switchboard/options.lua): a bad option raises at the caller with a
-- message naming its path, the value and the fix; a runtime failure
-- (port taken, host that does not resolve) is nil, err naming the cause;
-- the command line says what is wrong in one line and exits 2.
local sb = require "switchboard"
local support = require "support"

-- The message of the error fn raises, without the "file:line: " position.
local function raised(fn)
    local ok, err = pcall(fn)
    assert.is_false(ok, "expected an error")
    return (tostring(err):gsub("^[^\n]-:%d+: ", "", 1))
end

-- { what it is, function that raises, the exact message }
local server = nil
local url = "ws://127.0.0.1:1/c/x"

local ROWS = {
    -- sb.listen
    { "a typo of a key", function() sb.listen{ prot = 43140 } end,
        "switchboard.listen: unknown option 'prot' (did you mean 'port'?)" },
    { "an unknown key with nothing near", function() sb.listen{ port = 0, quiet = true } end,
        "switchboard.listen: unknown option 'quiet' (see docs/options.md)" },
    { "options that are not a table", function() sb.listen("8080") end,
        "switchboard.listen: options must be a table, got \"8080\"" },
    { "a host of the wrong type", function() sb.listen{ port = 0, host = 42 } end,
        "switchboard.listen: option 'host' must be a host name or address string "
        .. "(\"*\" or \"\": every interface), got 42" },
    { "a port out of range", function() sb.listen{ port = 70000 } end,
        "switchboard.listen: option 'port' must be a whole number 0..65535, got 70000" },
    { "a fractional port", function() sb.listen{ port = 80.5 } end,
        "switchboard.listen: option 'port' must be a whole number 0..65535, got 80.5" },
    { "a static dir that does not exist", function() sb.listen{ port = 0, static = "/nonexistent" } end,
        "switchboard.listen: option 'static' names '/nonexistent', which is not a readable directory" },
    { "a static path that is a file", function() sb.listen{ port = 0, static = "spec/options_spec.lua" } end,
        "switchboard.listen: option 'static' names 'spec/options_spec.lua', which is not a readable directory" },
    { "a switch that is not a boolean", function() sb.listen{ port = 0, presence_events = "no" } end,
        "switchboard.listen: option 'presence_events' must be true or false, got \"no\"" },
    { "phoenix mounts that are not a list", function() sb.listen{ port = 0, phoenix = "/socket" } end,
        "switchboard.listen: option 'phoenix' must be a list of mount paths such as { \"/socket\" }, "
        .. "got \"/socket\"" },
    { "an origin that is not a string", function() sb.listen{ port = 0, origins = { "https://a", 5 } } end,
        "switchboard.listen: option 'origins[2]' must be a string, got 5" },
    { "tls without a key", function() sb.listen{ port = 0, tls = { cert = "c.pem" } } end,
        "switchboard.listen: option 'tls.key' is required (a PEM file path)" },
    { "a typo inside tls", function() sb.listen{ port = 0, tls = { cert = "c", key = "k", chain = "x" } } end,
        "switchboard.listen: unknown option 'tls.chain' (known: cert, key)" },
    { "sse.keepalive below 0", function() sb.listen{ port = 0, sse = { keepalive = -1 } } end,
        "switchboard.listen: option 'sse.keepalive' must be a number >= 0, got -1" },
    { "an sse.cors origin with a space", function() sb.listen{ port = 0, sse = { cors = { "a b" } } } end,
        "switchboard.listen: option 'sse.cors[1]' is \"a b\": origins may not hold spaces or commas" },
    { "a negative history", function() sb.listen{ port = 0, history = -1 } end,
        "switchboard.listen: option 'history' must be a whole number >= 0, got -1" },
    { "a history that is a string", function() sb.listen{ port = 0, history = "all" } end,
        "switchboard.listen: option 'history' must be a whole number >= 0 or a table of "
        .. "pattern = { count =, ttl = }, got \"all\"" },
    { "a typo in a history rule", function() sb.listen{ port = 0, history = { ["r:*"] = { cont = 5 } } } end,
        "switchboard.listen: unknown option 'history[\"r:*\"].cont' (did you mean 'history[\"r:*\"].count'?)" },
    { "workers without redis", function() sb.listen{ port = 9999, workers = 2 } end,
        "switchboard.listen: workers > 1 needs redis = \"redis://HOST:PORT\" "
        .. "(workers share channels, presence and history through Redis)" },
    { "a hub that is not one", function() sb.listen{ port = 0, hub = "main" } end,
        "switchboard.listen: option 'hub' must be a hub (switchboard.hub()), got \"main\"" },
    -- limits, nested and at the top level
    { "limits.max_rate below 0", function() sb.listen{ port = 0, limits = { max_rate = -1 } } end,
        "switchboard.listen: option 'limits.max_rate' must be a number >= 0 or false (off), got -1" },
    { "max_rate below 0 at the top level", function() sb.listen{ port = 0, max_rate = -1 } end,
        "switchboard.listen: option 'max_rate' must be a number >= 0 or false (off), got -1" },
    { "a typo in limits", function() sb.listen{ port = 0, limits = { max_mesage = 10 } } end,
        "switchboard.listen: unknown option 'limits.max_mesage' (did you mean 'limits.max_message'?)" },
    { "a string limit", function() sb.listen{ port = 0, limits = { max_queue = "4MB" } } end,
        "switchboard.listen: option 'limits.max_queue' must be a whole number >= 1, got \"4MB\"" },
    { "max_burst 0", function() sb.listen{ port = 0, limits = { max_burst = 0 } } end,
        "switchboard.listen: option 'limits.max_burst' must be a number > 0, got 0" },
    { "a negative phoenix_timeout", function() sb.listen{ port = 0, limits = { phoenix_timeout = -5 } } end,
        "switchboard.listen: option 'limits.phoenix_timeout' must be a whole number 0..65535 "
        .. "or false (off), got -5" },
    { "idle_timeout not above ping_interval", function()
        sb.listen{ port = 0, limits = { idle_timeout = 10, ping_interval = 10 } }
    end, "switchboard.listen: idle_timeout (10) must be greater than ping_interval (10)" },
    -- channel rules of sb.listen
    { "a typo in a channel rule", function() sb.listen{ port = 0, channels = { news = { sendkey = "k" } } } end,
        "switchboard.listen: unknown option 'channels.news.sendkey' (did you mean 'channels.news.send_key'?)" },
    { "a publish rule that is a string", function()
        sb.listen{ port = 0, channels = { ["r:*"] = { publish = "no" } } }
    end, "switchboard.listen: option 'channels[\"r:*\"].publish' must be true, false or "
        .. "function(conn, channel, msg, info), got \"no\"" },
    { "an empty pattern", function() sb.listen{ port = 0, channels = { [""] = { publish = false } } } end,
        "switchboard.listen: option 'channels' has the key \"\"; its keys must be a non-empty pattern string" },
    -- server:channel handlers
    { "a typo of a handler", function() server:channel("r:*", { joni = function() end }) end,
        "server:channel(\"r:*\"): unknown handler 'joni' (did you mean 'join'?)" },
    { "an on value that is not a function", function() server:channel("r:*", { on = { message = 1 } }) end,
        "server:channel(\"r:*\"): handler 'on.message' must be a function, got 1" },
    { "a join that is not a function", function() server:channel("r:*", { join = true }) end,
        "server:channel(\"r:*\"): handler 'join' must be a function, got true" },
    { "on that is not a table", function() server:channel("r:*", { on = print }) end,
        "server:channel(\"r:*\"): handler 'on' must be a table of event = function(conn, topic, payload, info), "
        .. "got a function" },
    { "handlers that are not a table", function() server:channel("r:*", "join") end,
        "server:channel(\"r:*\"): handlers must be a table { join =, leave =, on = { event = fn }, presence = }, "
        .. "got \"join\"" },
    -- sb.connect
    { "a typo of a client option", function() sb.connect(url, { alais = "bob" }) end,
        "switchboard.connect: unknown option 'alais' (did you mean 'alias'?)" },
    { "a client switch that is a string", function() sb.connect(url, { echo = "yes" }) end,
        "switchboard.connect: option 'echo' must be true or false, got \"yes\"" },
    { "since without recover", function() sb.connect(url, { since = "1-2" }) end,
        "switchboard.connect: option 'since' needs recover = true" },
    { "a port beyond 65535 in the URL", function() sb.connect("ws://127.0.0.1:99999/c/x") end,
        "switchboard.connect: URL port must be 1..65535: ws://127.0.0.1:99999/c/x" },
    { "a query value that is a table", function() sb.connect(url, { query = { room = {} } }) end,
        "switchboard.connect: option 'query.room' must be a string, number or boolean, got a table" },
    -- backoff
    { "a backoff.initial string", function() sb.connect(url, { backoff = { initial = "1" } }) end,
        "switchboard.connect: option 'backoff.initial' must be a number > 0, got \"1\"" },
    { "a jitter above 1", function() sb.connect(url, { backoff = { jitter = 2 } }) end,
        "switchboard.connect: option 'backoff.jitter' must be a number 0..1, got 2" },
    { "a typo in backoff", function() sb.connect(url, { backoff = { inital = 1 } }) end,
        "switchboard.connect: unknown option 'backoff.inital' (did you mean 'backoff.initial'?)" },
    -- sb.hub, hub.new, hub:join_cluster
    { "a typo of a hub option", function() sb.hub{ histroy = 10 } end,
        "switchboard.hub: unknown option 'histroy' (did you mean 'history'?)" },
    { "a negative typing_ttl", function() sb.hub{ typing_ttl = -1 } end,
        "switchboard.hub: option 'typing_ttl' must be a number >= 0, got -1" },
    { "a cluster option without redis", function() sb.hub{ node = "a" } end,
        "switchboard.hub: option 'node' needs redis = \"redis://HOST:PORT/DB\" (it is for a cluster)" },
    { "hub.new with a fractional history", function() require("switchboard.hub").new{ history = 1.5 } end,
        "switchboard.hub: option 'history' must be a whole number >= 0, got 1.5" },
    { "join_cluster without redis", function() sb.hub():join_cluster{ node = "a" } end,
        "hub:join_cluster: option 'redis' is required (a \"redis://HOST:PORT/DB\" URL)" },
}

describe("options", function()
    setup(function()
        server = assert(sb.listen{ port = 0 })
    end)

    teardown(function()
        server:close()
    end)

    describe("refuse a misuse with the path, the value and the fix:", function()
        for _, row in ipairs(ROWS) do
            it(row[1], function()
                assert.equal(row[3], raised(row[2]))
            end)
        end
    end)

    it("blame the line that passed the bad option", function()
        local ok, err = pcall(function()
            local s = sb.listen{ prot = 1 }
            return s
        end)
        assert.is_false(ok)
        -- Lua 5.1 loses the position of a tail-called frame: no prefix then
        if not (_VERSION == "Lua 5.1" and not jit) then
            assert.matches("^spec/options_spec%.lua:%d+: ", err)
        end
    end)

    describe("return nil, err for runtime failures:", function()
        it("a port already in use names EADDRINUSE, strerror's words and host:port", function()
            local again, err = sb.listen{ port = server.port }
            assert.is_nil(again)
            assert.truthy(err:find("EADDRINUSE", 1, true), err)
            assert.truthy(err:lower():find("address already in use", 1, true), err)
            assert.truthy(err:find("127.0.0.1:" .. server.port, 1, true), err)
        end)

        it("a host that does not resolve names the host", function()
            local s, err = sb.listen{ port = 0, host = "no-such-host.invalid" }
            assert.is_nil(s)
            assert.matches("cannot listen on no%-such%-host%.invalid:0: the host does not resolve", err)
        end)
    end)

    describe("accept every documented option", function()
        it("of sb.listen, limits, sse and channels", function()
            local s = assert(sb.listen{
                host = "127.0.0.1", port = 0, static = "examples/public", static_follow_links = false,
                history = { ["room:*"] = { count = 5, ttl = 60 }, log = 3 }, history_ttl = 30,
                typing_ttl = 3, presence_events = true,
                sse = { keepalive = 10, retry = false, cors = { "https://a.example" }, max_body = 1024 },
                phoenix = { "/socket" }, origins = { "https://a.example", "//b.example" },
                max_message = 1024, max_queue = 65536, max_connections = 100, max_per_ip = 10,
                max_rate = false, max_burst = 4, max_channels = 10,
                limits = { phoenix_timeout = 0, handshake_timeout = 5, max_header_bytes = 8192,
                    max_url = 1024, ping_interval = 20, idle_timeout = 40, max_rate = 0 },
                channels = { ["ticker:*"] = { publish = false }, news = { send_key = "k" },
                    ["chat:*"] = { publish = function() return true end, history = 10 } },
                workers = 1,
            })
            s:channel("room:*", { join = function() return true end, leave = function() end,
                on = { shout = function() end }, presence = false })
            s:close()
        end)

        it("of sb.connect, backoff, sb.hub and hub.new", function()
            sb.connect(url, { alias = "bob", as = 7, announce = true, echo = false, list = true,
                sendKey = "k", token = "t", reconnect = false, origin = "https://a.example",
                insecure = true, query = { room = "r", n = 2, flag = true }, max_queue = 10,
                recover = true, since = "1-2",
                backoff = { initial = 0.5, max = 5, factor = 1.5, jitter = 0 } }):close()
            assert.truthy(sb.hub{ typing_ttl = 1, history = 10, history_ttl = 60, max_channels = 5,
                max_idle_channels = 100, clock = function() return 0 end })
        end)
    end)

    describe("on the command line", function()
        -- runs bin/switchboard with args; returns stdout+stderr, the exit code
        local function run(args)
            local p = io.popen(("%s bin/switchboard %s 2>&1; echo \"exit=$?\""):format(support.LUA, args))
            local text = p:read("*a")
            p:close()
            local code = tonumber(text:match("exit=(%d+)%s*$"))
            return text:gsub("exit=%d+%s*$", ""), code
        end

        it("--version prints sb.version", function()
            local text, code = run("--version")
            assert.equal("switchboard " .. sb.version .. "\n", text)
            assert.equal(0, code)
            text, code = run("relay --version")
            assert.equal("switchboard " .. sb.version .. "\n", text)
            assert.equal(0, code)
        end)

        it("--help lists every option with a description", function()
            local text, code = run("relay --help")
            assert.equal(0, code)
            local relay = require "switchboard.relay"
            for k in pairs(relay.defaults) do
                local flag = "--" .. k:gsub("_", "-")
                local line = text:match("\n  (" .. flag:gsub("%-", "%%-") .. "[^\n]*)")
                assert.truthy(line, flag .. " missing in:\n" .. text)
                assert.truthy(line:find(relay.descriptions[k], 1, true), line)
            end
            assert.truthy(text:find("--version", 1, true))
            assert.equal(text, (run("--help")):sub(-#text))
        end)

        local BAD = {
            { "relay --workers 2",
                "switchboard relay: --workers 2 needs --redis redis://HOST:PORT "
                .. "(the workers share channels through it); see --help\n" },
            { "relay --prot 9000", "switchboard relay: unknown option --prot (did you mean --port?); see --help\n" },
            { "relay --port http",
                "switchboard relay: option --port wants a whole number >= 0, got \"http\"; see --help\n" },
            { "relay --port 99999",
                "switchboard relay: --port must be a whole number 0..65535, got 99999\n" },
            { "relay --no-events=maybe",
                "switchboard relay: option --no_events is a switch (true or false), got \"maybe\"; see --help\n" },
            { "serve", "switchboard: unknown command \"serve\" (want: switchboard relay [options] "
                .. "or switchboard api METHOD; see --help)\n" },
        }
        for _, row in ipairs(BAD) do
            it("refuses `" .. row[1] .. "` in one line and exits 2", function()
                local text, code = run(row[1])
                assert.equal(row[2], text)
                assert.equal(2, code)
            end)
        end
    end)
end)
