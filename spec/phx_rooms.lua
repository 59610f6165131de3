--- The rooms every Phoenix client spec (Lua and npm) runs against.
local sb = require "switchboard"

local M = {}

function M.start(opts)
    opts = opts or {}
    opts.port = 0
    local srv = assert(sb.listen(opts))
    local hub = srv.hub
    srv.conns = {}
    srv:on("open", function(conn) srv.conns[#srv.conns + 1] = conn end)
    srv:on("close", function(conn)
        for i = #srv.conns, 1, -1 do
            if srv.conns[i] == conn then
                table.remove(srv.conns, i)
            end
        end
    end)
    srv:channel("room:*", {
        join = function(conn, topic, params)
            if topic == "room:secret" then
                return nil, "unauthorized"
            end
            if params.user then
                conn.assigns.user = params.user
                hub:track(conn, topic, params.user, { online_at = 1700000000 })
            end
            return { welcome = true, topic = topic }
        end,
        on = {
            ask = function(_, _, payload)
                if payload.fail then
                    return nil, "no way"
                end
                return { answer = 42 }
            end,
            silent = function() end,
            shout = function(conn, topic, payload)
                hub:publish(topic, "shout", payload, { except = conn })
                return {}
            end,
            upload = function(conn, topic, payload)
                conn:push(topic, "bin_push", "\1\2\3")
                hub:publish(topic, "bin_bcast", payload, { binary = true, except = conn })
                return payload
            end,
            status = function(conn, topic, payload)
                hub:update(conn, topic, { online_at = 1700000000, status = payload.status })
                return {}
            end,
            drop = function(conn)
                conn:close(1001, "going away")
            end,
        },
    })
    return srv
end

return M
