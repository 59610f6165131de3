-- A switchboard server as a cluster node in its own process, for the
-- specs that SIGKILL a node with clients on it (not a spec itself).  The
-- spec connects the clients: a native connection's member id is its
-- ?user= (else its uid); a Phoenix join on phx:* tracks params.user.
-- Creates the file READY once it listens, then runs until killed.
--   lua redis_relay_node.lua REDIS_URL NODE TTL PORT READY
local sb = require "switchboard"

local url, node, ttl, port, ready = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4]), arg[5]
local server = assert(sb.listen{
    host = "127.0.0.1", port = port, redis = url, node = node, node_ttl = ttl,
    redis_log = function() end,
})
server:on("connect", function(conn, req) conn.member = req.query.user end)
server:channel("phx:*", {
    join = function(conn, topic, params)
        if params.user then
            server.hub:track(conn, topic, params.user, { node = node })
        end
        return {}
    end,
})
local f = assert(io.open(ready, "w"))
f:write(tostring(server.port), "\n")
f:close()
while true do
    sb.step(1)
end
