--- Chat rooms with aliases, a presence list and typing indicators.
--   lua5.4 examples/chat.lua [--host 127.0.0.1] [--port 8080]
-- then open http://127.0.0.1:8080/ in two tabs.  Rooms are the channels
-- `room:<name>`; the page (examples/public/) speaks the native protocol,
-- ws://HOST/c/room:<name>?alias=<user>&announce=true, a Phoenix client
-- joins the same topics with params { user = "name" }, and an SSE stream
-- GET /sse/room:<name>?user=<user> (or ?alias=, ?as=) follows one (and
-- POST /sse/room:<name>?user=<user> speaks in it); without a name the
-- stream watches, unlisted.  A bot in this process sits in room:lobby and
-- answers /time.  Rooms keep their last 500 messages for an hour, so a page
-- that reconnects gets what it missed (native ?since=, SSE Last-Event-ID,
-- Phoenix join params {recover, since, seen}: examples/README.md).
--
-- Events in a room, for every protocol (native clients get
-- {"type":EVENT,"message":PAYLOAD,"date":ms}):
--   client -> server  new_msg {body}           typing {typing = bool}
--   server -> room    new_msg {user, body}     (everyone, sender included)
--                     typing {user, typing}    (everyone but that user)
--                     presence {users, typing} (whenever who is here changes)
-- Plain itty-sockets messages (no `type`) are relayed untouched.
local dir = debug.getinfo(1, "S").source:match("^@(.-)[^/\\]*$") or "./"
package.path = dir .. "../?.lua;" .. dir .. "../lua/?.lua;" .. dir .. "../lua/?/init.lua;" .. package.path

local sb = require "switchboard"
local common = require "examples.common"

local app = {}

-- redis/node: "" = a single node; --redis URL joins a cluster (README).
app.defaults = { host = "127.0.0.1", port = 8080, redis = "", node = "", node_ttl = 10 }

local MAX_BODY = 2000
local BOT = "bot"
-- what a room keeps for pages that come back (typing and presence events
-- count too: they are published on the room like messages)
local HISTORY = { count = 500, ttl = 3600 }

local function is_room(topic)
    return type(topic) == "string" and topic:sub(1, 5) == "room:"
end

-- The user a connection is in a room (examples/README.md, "Chat
-- events"): Phoenix joins say { user = "name" }; native and SSE URLs say
-- ?user=NAME, else ?alias=NAME or ?as=NAME (conn.alias, which the core
-- read for both); a native client that says neither is its uid.
local function user_for_join(conn, params)
    local user = type(params) == "table" and params.user or nil
    if user == nil or user == "" then
        if conn.protocol == "native" then
            user = conn.alias or conn.uid
        elseif conn.protocol == "sse" then
            user = conn.alias
        end
    end
    if type(user) ~= "string" or user == "" then
        return nil
    end
    return user
end

-- A refused join names the ways to say who you are on that protocol.
local USER_REQUIRED = {
    phoenix = 'user required: join with params {"user": NAME}',
    sse = "user required: add ?user=NAME (or ?alias=NAME, ?as=NAME) to the URL",
}

local function user_of(conn, topic)
    local rooms = conn.assigns.rooms
    return rooms and rooms[topic]
end

-- What a handler answers: a native message must not also be relayed raw
-- (returning false keeps it from the relay; errors go back as an error
-- event); a Phoenix push gets a reply or an error reply.
local function answer(conn, reply, err)
    if conn.protocol == "native" then
        if err then
            conn:send(err, "error")
        end
        return false
    end
    if err then
        return nil, err
    end
    return reply
end

--- A snapshot of a room, as the page shows it.  Native users are hub
-- members keyed by user; a Phoenix connection joins the hub under its own
-- uid (left out here: its meta names it, on whichever node it is) and is
-- present by its hub:track key instead.
local function room_state(hub, topic, phoenix_uids)
    local seen, users = {}, {}
    local function add(user)
        if not seen[user] then
            seen[user] = true
            users[#users + 1] = user
        end
    end
    local skip, state = {}, {}
    for uid in pairs(phoenix_uids[topic] or {}) do
        skip[uid] = true
    end
    if type(hub.presence_state) == "function" then
        state = hub:presence_state(topic)
        for _, entry in pairs(state) do
            for _, meta in ipairs(entry.metas) do
                if meta.member then
                    skip[meta.member] = true
                end
            end
        end
    end
    for _, member in ipairs(hub:presence(topic)) do
        if not skip[member] then
            add(member)
        end
    end
    for key in pairs(state) do
        add(key)
    end
    table.sort(users)
    return { users = users, typing = hub:typing(topic) }
end

-- A position as the wire writes it, "<epoch>-<offset>" (%.0f: Lua 5.1
-- would print an epoch past 2^31 as a float).
local function position_text(hub, topic)
    local epoch, offset = hub:position(topic)
    return ("%.0f-%.0f"):format(epoch, offset)
end

-- The new_msg payloads a Phoenix page missed: Phoenix frames carry no
-- position, so the page says where it joined last (`since`, from that
-- join's reply) and how many new_msg it has shown since (`seen`); the
-- room's history after that position, minus those, is what it missed.
-- Returns the list, or nil and why not.
local function missed_since(hub, topic, since, seen)
    local epoch, offset = tostring(since):match("^(%d+)%-(%d+)$")
    if not epoch or #since > 40 then
        return nil, "bad-id"
    end
    local skip = math.max(0, math.floor(tonumber(seen) or 0))
    local missed = {}
    local n = hub:replay(topic, tonumber(epoch), tonumber(offset), function(_, event, payload, info)
        if event == "new_msg" and type(payload) == "table" then
            if skip > 0 then
                skip = skip - 1
            else
                missed[#missed + 1] = { user = payload.user, body = payload.body, date = info.date }
            end
        end
    end)
    if not n then
        return nil, "history-expired"
    end
    return missed
end

-- The bot: an ordinary native client of this very server, in room:lobby.
local function start_bot(server, host)
    local url = ("ws://%s:%d/c/room:lobby"):format(host, server.port)
    local bot = sb.connect(url, { alias = BOT, announce = true })
    local function time_text()
        return "It is " .. os.date("!%H:%M:%S") .. " UTC"
    end
    bot:on("new_msg", function(e)
        if e.user ~= BOT and type(e.body) == "string" and e.body:match("^%s*/time%s*$") then
            bot:send({ type = "new_msg", body = time_text() })
        end
    end)
    -- plain itty-sockets clients in the room say "/time" as a bare string
    bot:on("message", function(e)
        if e.message == "/time" then
            bot:send({ type = "new_msg", body = time_text() })
        end
    end)
    return bot
end

--- Starts the chat: opts { host, port (0 picks one), static, bot = false,
-- typing_ttl = seconds (default 5), hub = a hub that outlives this server
-- (its rooms, with their history, are still there when a new server
-- starts on it; close() leaves it as it was, minus this server's
-- connections) }.
-- Returns { server, hub, bot, host, port, close } or nil, err.
function app.start(opts)
    opts = opts or {}
    local host = opts.host or app.defaults.host
    local server, err = sb.listen({
        host = host, port = opts.port or app.defaults.port,
        static = opts.static or common.public, typing_ttl = opts.typing_ttl,
        hub = opts.hub,
        -- SSE streams that name nobody watch a room without being in it
        channels = { ["room:*"] = { watchers = true, history = HISTORY } },
        redis = opts.redis ~= "" and opts.redis or nil,
        node = opts.node ~= "" and opts.node or nil,
        node_ttl = opts.redis and opts.redis ~= "" and opts.node_ttl or nil,
    })
    if not server then
        return nil, err
    end
    local hub = server.hub

    -- topic -> { [hub member id of a Phoenix connection] = count }
    local phoenix_uids = {}

    local function announce_presence(topic)
        hub:publish(topic, "presence", room_state(hub, topic, phoenix_uids))
    end

    -- One arrival or departure touches presence in several places (the
    -- hub's presence event, and for Phoenix and SSE the join or leave
    -- handler with its hub:track): each asks for a snapshot, and the room
    -- gets one, right after this loop turn, when all of them are done.
    local pending = {}   -- topic -> timer
    local function announce_soon(topic)
        if not pending[topic] then
            pending[topic] = sb.after(0, function()
                pending[topic] = nil
                announce_presence(topic)
            end)
        end
    end

    server:channel("room:*", {
        join = function(conn, topic, params)
            if conn.watcher then
                -- an SSE stream that names nobody reads the room unseen
                return true
            end
            local user = user_for_join(conn, params)
            if not user then
                return nil, USER_REQUIRED[conn.protocol] or "user required"
            end
            conn.assigns.rooms = conn.assigns.rooms or {}
            conn.assigns.rooms[topic] = user
            if conn.protocol == "native" then
                -- native presence is the hub membership: key it by user,
                -- so two tabs of one user are one presence
                conn.member = user
            else
                local uid = conn.member or conn.uid
                if uid then
                    local uids = phoenix_uids[topic] or {}
                    phoenix_uids[topic] = uids
                    uids[uid] = (uids[uid] or 0) + 1
                end
                if type(hub.track) == "function" then
                    -- Phoenix presence (presence_state / presence_diff)
                    -- (member: the hub member id other nodes see it as)
                    hub:track(conn, topic, user, { online_at = sb.now_ms(),
                        member = conn.member or conn.uid })
                end
                -- native pages learn about Phoenix users too, once the
                -- join has gone through
                announce_soon(topic)
            end
            local reply = { user = user }
            if conn.protocol == "phoenix" and (params.recover == true or params.since ~= nil) then
                -- like the native ?recover=true / ?since=: where this join
                -- starts, and what the page missed since its last one
                reply.position = position_text(hub, topic)
                if params.since ~= nil then
                    local missed, why = missed_since(hub, topic, params.since, params.seen)
                    reply.missed, reply.missed_error = missed and sb.array(missed), why
                end
            end
            return reply
        end,
        leave = function(conn, topic)
            if conn.watcher then
                return
            end
            if conn.assigns.rooms then
                conn.assigns.rooms[topic] = nil
            end
            if conn.protocol ~= "native" then
                local uid = conn.member or conn.uid
                local uids = phoenix_uids[topic]
                if uid and uids and uids[uid] then
                    uids[uid] = uids[uid] > 1 and uids[uid] - 1 or nil
                    if next(uids) == nil then
                        phoenix_uids[topic] = nil
                    end
                end
                -- the server untracks after this handler returns
                announce_soon(topic)
            end
        end,
        on = {
            new_msg = function(conn, topic, payload)
                local user = user_of(conn, topic)
                local body = type(payload) == "table" and payload.body or nil
                if not user then
                    return answer(conn, nil, "join first")
                end
                if type(body) ~= "string" or body == "" then
                    return answer(conn, nil, "body required")
                end
                if #body > MAX_BODY then
                    return answer(conn, nil, "body too long")
                end
                hub:publish(topic, "new_msg", { user = user, body = body })
                return answer(conn, { ok = true })
            end,
            typing = function(conn, topic, payload)
                local user = user_of(conn, topic)
                if not user then
                    return answer(conn, nil, "join first")
                end
                local typing = type(payload) == "table" and payload.typing == true
                local changed = hub:set_typing(topic, user, typing)
                if changed == nil then
                    -- not a hub member (a Phoenix join before hub:track
                    -- exists): tell the others directly
                    hub:publish(topic, "typing", { user = user, typing = typing }, { except = conn })
                end
                return answer(conn, { ok = true })
            end,
        },
    })

    -- the hub tells us when someone arrives, leaves or starts/stops typing
    -- (including typing that expired), whatever protocol they use
    -- A change on this node (conn given) is announced once, right after
    -- this loop turn (announce_soon); the snapshot crosses to the other
    -- nodes.  A change on another node is announced there too, so here
    -- it only gets a late second snapshot
    -- (one per room per half second): it covers a node that died, and a
    -- Phoenix user whose meta reached this node after its hub membership
    -- (the first snapshot would name it by its uid).
    local late = {}
    -- Every node hears a change on another node; one speaks for the
    -- cluster: the first by name of those with connections in the room.
    local function speaks_for(topic)
        local st = hub:cluster_stats()
        if not st then
            return true
        end
        local first
        for node in pairs(st.by_channel[topic] or {}) do
            if not first or node < first then
                first = node
            end
        end
        return first == st.node
    end
    local function presence_changed(topic, _, conn)
        if not is_room(topic) then
            return
        end
        if conn then
            announce_soon(topic)
        elseif not late[topic] then
            late[topic] = sb.after(0.5, function()
                late[topic] = nil
                if speaks_for(topic) then
                    announce_presence(topic)
                end
            end)
        end
    end
    -- (kept, so that close() can take them off a hub that outlives it)
    local listeners = {
        { "presence:join", presence_changed },
        { "presence:leave", presence_changed },
        { "typing", function(topic, user, typing, remote)
            -- (in a cluster the node where the flag was set tells the room)
            if is_room(topic) and not remote then
                hub:publish(topic, "typing", { user = user, typing = typing }, { except_member = user })
            end
        end },
    }
    for _, l in ipairs(listeners) do
        hub:on(l[1], l[2])
    end

    -- POST /sse/room:<name>?user=NAME: how an SSE page speaks.  The body
    -- is published as it is, so it must be what the room's handlers would
    -- have published: new_msg {user, body} or typing {user, typing}, from
    -- a user who is in the room and names itself in the URL.
    server:on("publish", function(req, topic, event, payload)
        if not is_room(topic) then
            return true
        end
        local user = req.query.user
        if type(payload) ~= "table" or payload.user ~= user or type(user) ~= "string" then
            return false, 'say who you are: ?user=NAME and {"user": NAME, ...} in the body'
        end
        local here = false
        for _, u in ipairs(room_state(hub, topic, phoenix_uids).users) do
            here = here or u == user
        end
        if not here then
            return false, user .. " is not in " .. topic .. ": open its stream first"
        end
        if event == "new_msg" then
            if type(payload.body) ~= "string" or payload.body == "" or #payload.body > MAX_BODY then
                return false, "body must be a string of 1 to " .. MAX_BODY .. " bytes"
            end
        elseif event == "typing" then
            if type(payload.typing) ~= "boolean" then
                return false, "typing must be true or false"
            end
        else
            return false, "a room takes new_msg and typing"
        end
        for k in pairs(payload) do
            if k ~= "user" and k ~= "body" and k ~= "typing" then
                return false, "unknown field " .. tostring(k)
            end
        end
        return true
    end)
    -- a second tab of someone already present changes no presence, but
    -- that tab needs the list too (a tab whose arrival changed it gets
    -- the room's snapshot that is on its way)
    -- An SSE stream hears "joined" once what it gets from history (after
    -- Last-Event-ID) is over: a page marks what came before it as missed.
    -- (Native pages have their own join event for that.)
    server:on("open", function(conn)
        if not conn or not is_room(conn.channel) then
            return
        end
        if conn.protocol == "sse" then
            conn:send({ position = position_text(hub, conn.channel) }, "joined")
        elseif conn.protocol == "native" and not pending[conn.channel] then
            conn:send(room_state(hub, conn.channel, phoenix_uids), "presence")
        end
    end)

    -- typing flags expire typing_ttl seconds after the last keystroke, when
    -- the hub is ticked
    local ticker = sb.every(math.min(1, (opts.typing_ttl or 5) / 4), function()
        hub:tick()
    end)

    local self = { server = server, hub = hub, host = server.host, port = server.port }
    if opts.bot ~= false then
        local bot_host = (host == "0.0.0.0" or host == "::" or host == "*") and "127.0.0.1" or host
        self.bot = start_bot(server, bot_host)
    end
    function self.close()
        ticker:cancel()
        for _, l in ipairs(listeners) do
            hub:off(l[1], l[2])
        end
        for _, timers in ipairs({ late, pending }) do
            for _, t in pairs(timers) do
                t:cancel()
            end
        end
        if self.bot then
            self.bot:close()
        end
        server:close()
    end
    return self
end

function app.main(argv)
    return common.main(sb, argv, app.defaults, app.start, "chat")
end

if common.is_script("examples.chat", ...) then
    os.exit(app.main(arg))
end
return app
