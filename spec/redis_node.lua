-- A cluster node in its own process, for the kill-a-node spec (not a spec
-- itself): joins `channel` as `member` through Redis (and tracks a Phoenix
-- presence under KEY when given) and runs until killed.
--   lua redis_node.lua REDIS_URL NODE TTL CHANNEL MEMBER [KEY]
local sb = require "switchboard"

local url, node, ttl, channel, member = arg[1], arg[2], tonumber(arg[3]), arg[4], arg[5]
local hub = assert(sb.hub{ redis = url, node = node, node_ttl = ttl })
local conn = hub:attach(function() end)
assert(hub:join(channel, member, conn))
if arg[6] then
    assert(hub:track(conn, channel, arg[6], { n = 1 }))
end
while true do
    sb.step(1)
end
