--- switchboard.pusher_api: Pusher's HTTP API on a switchboard server
-- (docs/pusher-http.md), so that Pusher's server libraries publish and
-- query unmodified.  The C core (csrc/protocols/pusher_api) routes
-- /apps/<app_id>/... to this module once the request's signature is
-- good; this module answers it from the server's hub, so publishes and
-- queries cover the cluster when there is one.  Channel names are hub
-- names as they are; an event's `data` becomes the message's payload
-- (its JSON value when it is JSON text, else the string).  Answers are
-- JSON for a success and one line of text for a refusal, as Pusher's
-- are.  Internal: server.lua makes one per server with `pusher = { ... }`.
local core = require "switchboard.core"
local json = require "switchboard.json"

local M = {}

-- Pusher's own limits on a trigger.
local MAX_CHANNELS, MAX_BATCH, MAX_EVENT_NAME = 100, 10, 200

local Api = {}
Api.__index = Api

-- A refusal: status and its line of text.
local function refuse(status, text)
    return nil, { status, text }
end

local function is_object(v)
    return type(v) == "table" and v[1] == nil and getmetatable(v) ~= json.array_mt
end

local function is_presence(channel)
    return channel:sub(1, 9) == "presence-"
end

local function check_channel(ch)
    if type(ch) ~= "string" or not core.hub_valid_channel(ch) then
        return refuse(400, ("Invalid channel name %s: want 1..255 bytes of [A-Za-z0-9_.:@/-]")
            :format(type(ch) == "string" and ("%q"):format(ch) or type(ch)))
    end
    return ch
end

-- The attributes `info` asks for ("user_count,subscription_count"), as
-- a set; `allowed` names those this request may ask for.
local function info_of(text, allowed)
    local set = {}
    if text == nil or text == "" then
        return set
    end
    if type(text) ~= "string" then
        return refuse(400, "Invalid info: want a comma-separated list of attributes")
    end
    for attr in text:gmatch("[^,]+") do
        if not allowed[attr] then
            return refuse(400, ("Invalid info attribute %q (known here: %s)"):format(attr,
                table.concat(allowed, ", ")))
        end
        set[attr] = true
    end
    return set
end

local CHANNEL_INFO = { "subscription_count", "user_count",
    subscription_count = true, user_count = true }

-- The attributes of one channel that set asks for; user_count of a
-- channel that is no presence channel is refused, as Pusher does.
local function attributes(hub, channel, set)
    local a = {}
    if set.user_count then
        if not is_presence(channel) then
            return refuse(400, ("user_count is only available for presence channels, not %q")
                :format(channel))
        end
        a.user_count = hub:member_count(channel)
    end
    if set.subscription_count then
        a.subscription_count = hub:connection_count(channel)
    end
    return a
end

-- The connection a socket_id "<A>.<B>" names on this node, or nil: B is
-- its hub connection id; a connection that knows its whole socket id
-- must have this one (in a cluster, B alone may be another node's).
local function except_of(hub, socket_id)
    if socket_id == nil then
        return false
    end
    if type(socket_id) ~= "string" or not socket_id:match("^%d+%.%d+$") or #socket_id > 64 then
        return refuse(400, ("Invalid socket_id %s: want \"<number>.<number>\""):format(
            type(socket_id) == "string" and ("%q"):format(socket_id) or type(socket_id)))
    end
    local id = tonumber(socket_id:match("%.(%d+)$"))
    for srv in pairs(rawget(hub, "_api_servers") or {}) do
        srv:_adopt()   -- a connection without a Lua object may be the one
        for _, conn in pairs(srv._conns) do
            local own = rawget(conn, "socket_id")
            if conn.id == id and (own == nil or own == socket_id) then
                return conn
            end
        end
    end
    return false
end

-- One event of a trigger or a batch, checked: { channels, name, data,
-- except, info }.  batch: the item of a batch (one `channel`).
local function event_of(hub, e, batch)
    if not is_object(e) then
        return refuse(400, batch and "Invalid batch: every item must be an object"
            or "Invalid body: want a JSON object")
    end
    local name = e.name
    if type(name) ~= "string" or #name == 0 or #name > MAX_EVENT_NAME or name:find("%c") then
        return refuse(400, ("Invalid event name: want a string of 1..%d bytes"):format(MAX_EVENT_NAME))
    end
    if type(e.data) ~= "string" then
        return refuse(400, "Invalid data: want a string (JSON text or any other)")
    end
    local list = e.channels
    if batch or list == nil then
        if e.channel == nil then
            return refuse(400, "Missing channel: give 'channel'" .. (batch and "" or " or 'channels'"))
        end
        list = { e.channel }
    elseif e.channel ~= nil then
        return refuse(400, "Give 'channel' or 'channels', not both")
    elseif type(list) ~= "table" or list[1] == nil or #list > MAX_CHANNELS then
        return refuse(400, ("Invalid channels: want a list of 1..%d channel names"):format(MAX_CHANNELS))
    end
    for _, ch in ipairs(list) do
        local ok, err = check_channel(ch)
        if not ok then
            return nil, err
        end
    end
    local except, info, err
    except, err = except_of(hub, e.socket_id)
    if except == nil then
        return nil, err
    end
    info, err = info_of(e.info, CHANNEL_INFO)
    if not info then
        return nil, err
    end
    for _, ch in ipairs(list) do
        if info.user_count and not is_presence(ch) then
            return refuse(400, ("user_count is only available for presence channels, not %q"):format(ch))
        end
    end
    -- JSON text is the payload as it is; any other text, a JSON string
    local payload = e.data
    if core.json_decode(payload) == nil then
        payload = json.encode(payload)
    end
    return { channels = list, name = name, payload = payload, except = except or nil, info = info }
end

-- Publishes a checked event; returns its channels' attributes when it
-- asked for some, else nil.
local function publish(hub, ev)
    local answer
    for _, ch in ipairs(ev.channels) do
        assert(hub.core:publish(ch, ev.name, ev.payload, ev.except))
        if next(ev.info) then
            answer = answer or {}
            answer[ch] = assert(attributes(hub, ch, ev.info))
        end
    end
    return answer
end

local function body_of(text)
    if text == "" then
        return refuse(400, "Invalid body: want a JSON object")
    end
    local v, err = json.decode(text)
    if v == nil then
        return refuse(400, "Invalid JSON: " .. tostring(err):gsub("%c", " "))
    end
    return v
end

local ROUTES = {}

--- POST /events { name, data, channel | channels, socket_id?, info? }:
-- {} or, with info, {"channels": {name: attributes}}.
function ROUTES.events(self, body)
    local ev, err = event_of(self.hub, body, false)
    if not ev then
        return nil, err
    end
    local answer = publish(self.hub, ev)
    return answer and { channels = answer } or {}
end

--- POST /batch_events { batch = [ { channel, name, data, socket_id?, info? } ] }:
-- every item is checked before any is published.
function ROUTES.batch_events(self, body)
    local list = is_object(body) and body.batch
    if type(list) ~= "table" or (list[1] == nil and next(list) ~= nil) or #list > MAX_BATCH then
        return refuse(400, ("Invalid batch: want {\"batch\": [...]} of at most %d events"):format(MAX_BATCH))
    end
    local events = {}
    for i, e in ipairs(list) do
        local ev, err = event_of(self.hub, e, true)
        if not ev then
            return refuse(err[1], ("batch[%d]: %s"):format(i - 1, err[2]))
        end
        events[i] = ev
    end
    local answers, any = json.array(), false
    for i, ev in ipairs(events) do
        local a = publish(self.hub, ev)
        answers[i] = a and a[ev.channels[1]] or {}
        any = any or a ~= nil
    end
    return any and { batch = answers } or {}
end

--- GET /channels ?filter_by_prefix=&info=user_count: the occupied
-- channels; user_count only with a presence- prefix, as Pusher has it.
function ROUTES.channels(self, _, params)
    local prefix = params.filter_by_prefix or ""
    local info, err = info_of(params.info, { "user_count", user_count = true })
    if not info then
        return nil, err
    end
    if info.user_count and not is_presence(prefix) then
        return refuse(400, "info=user_count needs filter_by_prefix=presence-")
    end
    local out = {}
    for _, c in ipairs(self.hub:channels()) do
        if c.connections > 0 and c.name:sub(1, #prefix) == prefix then
            out[c.name] = info.user_count and { user_count = c.members } or {}
        end
    end
    return { channels = out }
end

--- GET /channels/<name> ?info=subscription_count,user_count: occupied
-- and the attributes asked for (an unknown channel is not occupied).
function ROUTES.channel(self, _, params, channel)
    local info, err = info_of(params.info, CHANNEL_INFO)
    if not info then
        return nil, err
    end
    local a
    a, err = attributes(self.hub, channel, info)
    if not a then
        return nil, err
    end
    a.occupied = self.hub:connection_count(channel) > 0
    return a
end

--- GET /channels/<name>/users: the members of a presence channel.
function ROUTES.users(self, _, _, channel)
    if not is_presence(channel) then
        return refuse(400, ("Users can only be retrieved for presence channels, not %q"):format(channel))
    end
    local users = json.array()
    for i, id in ipairs(self.hub:presence(channel)) do
        users[i] = { id = id }
    end
    return { users = users }
end

-- The route of (method, path) and the channel it names, or a refusal.
local function route_of(method, path)
    local name, channel
    if path == "/events" or path == "/batch_events" then
        name = path:sub(2)
    elseif path == "/channels" then
        name = "channels"
    else
        channel = path:match("^/channels/([^/]+)/users$")
        name = channel and "users"
        if not channel then
            channel = path:match("^/channels/([^/]+)$")
            name = channel and "channel"
        end
    end
    if not name then
        return refuse(404, ("Not found: no %s here (docs/pusher-http.md)"):format(path))
    end
    local want = (name == "events" or name == "batch_events") and "POST" or "GET"
    if method ~= want then
        return refuse(405, ("Method not allowed: %s wants %s"):format(path, want))
    end
    if channel then
        local ok, err = check_channel(channel)
        if not ok then
            return nil, err
        end
    end
    return name, channel
end

--- A signed request (the C core checked its signature): method "GET" or
-- "POST", path after /apps/<id>, params the other query parameters, body
-- the raw body.  Returns the HTTP status and the answer's text.
function Api:call(method, path, params, body)
    local name, channel = route_of(method, path)
    local result, err
    if name then
        local value = {}
        if method == "POST" then
            value, err = body_of(body)
        end
        if value ~= nil then
            result, err = ROUTES[name](self, value, params, channel)
        end
    else
        err = channel
    end
    if not result then
        return err[1], err[2]
    end
    return 200, json.encode(result)
end

--- A server's Pusher API: opts is the `pusher` option (app_id, key,
-- secret), checked by switchboard.options.
function M.new(server, opts)
    return setmetatable({ hub = server.hub, app_id = opts.app_id, key = opts.key }, Api)
end

return M
