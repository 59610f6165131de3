--- A zero-config public relay like itty.ws: any channel, no app logic.
--   lua5.4 examples/relay.lua [--host 127.0.0.1] [--port 8080] [--history N]
--     [--pusher ID:KEY:SECRET]
-- Connect with itty-sockets: connect("ws://127.0.0.1:8080/c/any-channel"),
-- or with --pusher, pusher-js: new Pusher(KEY, { wsHost: "127.0.0.1",
-- wsPort: 8080, forceTLS: false, enabledTransports: ["ws"], cluster: "local",
-- channelAuthorization: { endpoint: "http://127.0.0.1:8080/pusher/auth" } })
-- (docs/pusher.md).
-- The relay itself lives in switchboard.relay (also `switchboard relay`).
local dir = debug.getinfo(1, "S").source:match("^@(.-)[^/\\]*$") or "./"
package.path = dir .. "../?.lua;" .. dir .. "../lua/?.lua;" .. dir .. "../lua/?/init.lua;" .. package.path

local common = require "examples.common"
local relay = require "switchboard.relay"

local app = {}

--- Starts the relay; opts as for switchboard.relay.listen (port 0 picks one).
function app.start(opts)
    return relay.listen(opts)
end

function app.main(argv)
    return relay.main(argv, "relay")
end

if common.is_script("examples.relay", ...) then
    os.exit(app.main(arg))
end
return app
