--- The relay plus Phoenix rooms with Presence, for bench/churn.c --proto
-- phoenix: any churn-* topic may be joined by a Phoenix socket, and each
-- joiner is tracked under its "user" param, so every join and leave is a
-- presence_diff to the room (what a Phoenix app with Presence does).
-- Native clients on /c/churn-* are relayed as usual.
--   lua5.4 bench/churn_server.lua --port P   (the relay's options apply)
local dir = debug.getinfo(1, "S").source:match("^@(.-)[^/\\]*$") or "./"
package.path = dir .. "../lua/?.lua;" .. dir .. "../lua/?/init.lua;" .. package.path

local sb = require "switchboard"
local cli = require "switchboard.cli"
local relay = require "switchboard.relay"

local function listen(opts)
    local server, err = relay.listen(opts)
    if not server then
        return nil, err
    end
    local hub = server.hub
    server:channel("churn-*", {
        join = function(conn, topic, params)
            hub:track(conn, topic, tostring(params.user), {})
            return true
        end,
    })
    return server
end

os.exit(cli.main(sb, arg, relay.defaults, listen, "churn_server"))
