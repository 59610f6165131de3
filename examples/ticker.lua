--- A ticker: a counter broadcast every second on the `ticker` channel, and
-- the number of live sessions re-broadcast whenever one joins or leaves.
--   lua5.4 examples/ticker.lua [--host 127.0.0.1] [--port 8080]
-- then open http://127.0.0.1:8080/ticker.html (EventSource on /sse/ticker,
-- falling back to the WebSocket ws://HOST/c/ticker).
-- Events on `ticker`:  tick {count}   sessions {count}  (listen-only for clients)
local dir = debug.getinfo(1, "S").source:match("^@(.-)[^/\\]*$") or "./"
package.path = dir .. "../?.lua;" .. dir .. "../lua/?.lua;" .. dir .. "../lua/?/init.lua;" .. package.path

local sb = require "switchboard"
local common = require "examples.common"

local app = {}

app.defaults = { host = "127.0.0.1", port = 8080 }

local CHANNEL = "ticker"

--- Starts the ticker: opts { host, port (0 picks one), static, interval = s }.
-- Returns { server, hub, host, port, count(), close } or nil, err.
function app.start(opts)
    opts = opts or {}
    local server, err = sb.listen({
        host = opts.host or app.defaults.host, port = opts.port or app.defaults.port,
        static = opts.static or common.public,
        -- only the server speaks here: a client's send gets an error event
        channels = { [CHANNEL] = { publish = false } },
    })
    if not server then
        return nil, err
    end
    local hub = server.hub
    local count = 0

    local timer = sb.every(opts.interval or 1, function()
        count = count + 1
        hub:publish(CHANNEL, "tick", { count = count })
    end)

    -- sessions of every protocol (WebSocket, SSE) are hub connections
    local function sessions()
        hub:publish(CHANNEL, "sessions", { count = hub:connection_count(CHANNEL) })
    end
    hub:on("session:join", function(channel)
        if channel == CHANNEL then
            sessions()
        end
    end)
    hub:on("session:leave", function(channel)
        if channel == CHANNEL then
            sessions()
        end
    end)

    local self = { server = server, hub = hub, host = server.host, port = server.port }
    function self.count()
        return count
    end
    function self.close()
        timer:cancel()
        server:close()
    end
    return self
end

function app.main(argv)
    return common.main(sb, argv, app.defaults, app.start, "ticker")
end

if common.is_script("examples.ticker", ...) then
    os.exit(app.main(arg))
end
return app
