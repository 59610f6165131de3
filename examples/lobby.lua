--- A game lobby: the `lobby` channel announces the open game rooms with
-- their player counts as they change, and game rooms `game-<id>` admit at
-- most --max-players players (the rule lives here, in Lua).
--   lua5.4 examples/lobby.lua [--host 127.0.0.1] [--port 8080] [--max-players 4]
-- Page:   http://HOST:PORT/lobby.html
-- Watch:  ws://HOST/c/lobby        -> {"type":"rooms","message":{"rooms":[...]}}
-- Play:   ws://HOST/c/game-42      (refused with HTTP 403 "game-42 is full"
--                                   once it holds max-players players)
local dir = debug.getinfo(1, "S").source:match("^@(.-)[^/\\]*$") or "./"
package.path = dir .. "../?.lua;" .. dir .. "../lua/?.lua;" .. dir .. "../lua/?/init.lua;" .. package.path

local sb = require "switchboard"
local common = require "examples.common"

local app = {}

app.defaults = { host = "127.0.0.1", port = 8080, max_players = 4 }

local LOBBY = "lobby"

local function is_game(channel)
    return type(channel) == "string" and channel:match("^game%-[%w_.-]+$") ~= nil
end

--- Starts the lobby: opts { host, port (0 picks one), max_players }.
-- Returns { server, hub, host, port, close } or nil, err.
function app.start(opts)
    opts = opts or {}
    local max_players = opts.max_players or app.defaults.max_players
    local server, err = sb.listen({
        host = opts.host or app.defaults.host, port = opts.port or app.defaults.port,
        static = opts.static or common.public,
    })
    if not server then
        return nil, err
    end
    local hub = server.hub
    -- connections admitted by join but not yet open (so not yet counted by
    -- the hub): without them two quick connects could both take the last seat
    local pending = {}

    local function players(channel)
        local n = hub:connection_count(channel)
        for _, ch in pairs(pending) do
            if ch == channel then
                n = n + 1
            end
        end
        return n
    end

    --- The open game rooms, sorted by name.
    local function rooms()
        local list = sb.array()   -- [] when no game is open, not {}
        for _, ch in ipairs(hub:channels()) do
            if is_game(ch.name) then
                list[#list + 1] = { name = ch.name, players = ch.connections, max = max_players }
            end
        end
        return { rooms = list }
    end

    local function announce()
        hub:publish(LOBBY, "rooms", rooms())
    end

    server:channel("game-*", {
        join = function(conn, topic)
            if not is_game(topic) then
                return nil, "game rooms are named game-<id>"
            end
            if players(topic) >= max_players then
                return nil, ("%s is full (%d players)"):format(topic, max_players)
            end
            pending[conn] = topic
            return { players = players(topic), max = max_players }
        end,
    })

    server:on("open", function(conn)
        if not conn then
            return
        end
        pending[conn] = nil
        if conn.channel == LOBBY then
            -- the newcomer learns the current state at once
            conn:send(rooms(), "rooms")
        end
    end)
    server:on("close", function(conn)
        pending[conn] = nil
    end)

    -- every arrival and departure in a game room changes a count
    hub:on("session:join", function(channel)
        if is_game(channel) then
            announce()
        end
    end)
    hub:on("session:leave", function(channel)
        if is_game(channel) then
            announce()
        end
    end)

    local self = { server = server, hub = hub, host = server.host, port = server.port, rooms = rooms }
    function self.close()
        server:close()
    end
    return self
end

function app.main(argv)
    return common.main(sb, argv, app.defaults, app.start, "lobby")
end

if common.is_script("examples.lobby", ...) then
    os.exit(app.main(arg))
end
return app
