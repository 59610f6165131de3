--- The Lua side of the Pusher Channels protocol (docs/pusher.md): the
-- options the C core reads, the auth endpoint that signs subscriptions to
-- private- and presence- channels, and what a Pusher connection's
-- subscriptions and client events ask of the app (server:channel
-- handlers and channel rules).  The socket itself is C
-- (csrc/protocols/pusher/).
-- @module switchboard.pusher
local core = require "switchboard.core"
local json = require "switchboard.json"

local M = {}

--- The path the auth endpoint answers on when `authorize` is given.
M.DEFAULT_AUTH_PATH = "/pusher/auth"

--- The options of core.listen for pusher = { ... } (nil: none), flattened.
function M.core_options(p)
    if p == nil then
        return {}
    end
    return {
        pusher_key = p.key, pusher_secret = p.secret,
        pusher_client_events = p.client_events and 1 or nil,
        pusher_activity_timeout = p.activity_timeout,
        pusher_auth_max_body = p.auth_max_body,
        -- the endpoint exists only when the app can say yes or no
        pusher_auth_path = p.authorize and (p.auth_path or M.DEFAULT_AUTH_PATH) or nil,
    }
end

--- The auth string of a subscription: "<key>:<hex HMAC-SHA256 of
-- socket_id:channel[:channel_data]>" (what the socket checks).
function M.sign(key, secret, socket_id, channel, channel_data)
    local text = socket_id .. ":" .. channel
    if channel_data ~= nil then
        text = text .. ":" .. channel_data
    end
    return key .. ":" .. assert(core.hmac_sha256_hex(secret, text))
end

local function unescape(s)
    s = s:gsub("%+", " ")
    return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- Decodes an application/x-www-form-urlencoded body into a table (the
-- last of a repeated key wins).
function M.form_decode(body)
    local t = {}
    for pair in (body or ""):gmatch("[^&]+") do
        local k, v = pair:match("^([^=]*)=?(.*)$")
        if k ~= "" then
            t[unescape(k)] = unescape(v)
        end
    end
    return t
end

local function answer(status, t)
    return status, json.encode(t)
end

-- What authorize said about a presence channel, as the channel_data to
-- sign: nil and a reason when it named no user.
local function channel_data(verdict)
    if type(verdict) ~= "table" then
        return nil, "presence channels need a user: authorize must return { user_id =, user_info = }"
    end
    local uid = verdict.user_id
    if type(uid) == "number" then
        uid = ("%.0f"):format(uid)
    end
    if type(uid) ~= "string" or uid == "" then
        return nil, "authorize returned no user_id for a presence channel"
    end
    return json.encode({ user_id = uid, user_info = verdict.user_info })
end

--- The auth endpoint (POST <auth_path>): reads socket_id and
-- channel_name, asks opts.authorize(req) and answers {"auth": ...} (and
-- channel_data on presence channels), or 403 with the reason.  req has
-- socket_id, channel_name, params (every form field), and the HTTP
-- request's path, query, headers and peer.
function M.endpoint(opts, req, body)
    local params = M.form_decode(body)
    local socket_id, channel = params.socket_id, params.channel_name
    if type(socket_id) ~= "string" or not socket_id:match("^%d+%.%d+$") then
        return answer(400, { error = "socket_id missing or not <digits>.<digits>" })
    end
    if type(channel) ~= "string" or channel == "" then
        return answer(400, { error = "channel_name missing" })
    end
    req.socket_id, req.channel_name, req.params = socket_id, channel, params
    local verdict, reason = opts.authorize(req)
    if not verdict then
        return answer(403, { error = tostring(reason or "not authorized") })
    end
    local cd
    if channel:sub(1, 9) == "presence-" then
        cd, reason = channel_data(verdict)
        if not cd then
            return answer(403, { error = reason })
        end
    end
    return answer(200, { auth = M.sign(opts.key, opts.secret, socket_id, channel, cd),
        channel_data = cd })
end

--- A Pusher subscription (the signature was checked in C): the channel's
-- server:channel join handler, when there is one, may refuse it.
-- params is the presence channel_data ({ user_id, user_info }) or {}.
-- Returns "ok" or "error", reason_json, as the C join hook wants.
function M.join(server, conn, topic, params)
    local handler = server:handler_for(topic)
    if handler and handler.join then
        local reply, reason = handler.join(conn, topic, type(params) == "table" and params or {})
        if not reply then
            return "error", json.encode({ reason = tostring(reason or "join refused") })
        end
    end
    conn._topics[topic] = handler or false
    return "ok", "{}"
end

--- A client event on a subscribed channel: the channel rules and the
-- handler's on[event] may refuse it ("error", reason_json); a handler
-- returning false keeps it from the others ("ok", nothing relayed);
-- otherwise nil, and the C core relays it.
function M.event(server, conn, topic, event, value)
    local ok, why = server._rules:allow(conn, topic, nil, value,
        { protocol = "pusher", event = event })
    if not ok then
        return "error", json.encode({ reason = why })
    end
    if server._webhooks then
        server._webhooks:client_message(conn, topic, event, value)
    end
    local handler = conn._topics[topic] or server:handler_for(topic)
    local fn = handler and handler.on and handler.on[event]
    if not fn then
        return nil
    end
    local reply, err = fn(conn, topic, value, { event = event })
    if reply == false then
        return "ok", "{}"
    elseif reply == nil and err ~= nil then
        return "error", json.encode({ reason = tostring(err) })
    end
    return nil
end

--- A subscription ended (unsubscribe, close): the handler's leave.
function M.leave(conn, topic, why)
    local handler = conn._topics[topic]
    conn._topics[topic] = nil
    if handler and handler.leave then
        handler.leave(conn, topic, why)
    end
end

--- A Pusher frame for conn:send(payload, event): a connection-level
-- event (no channel), its data the JSON string of payload (a string
-- payload is sent as it is).
function M.frame(payload, event)
    local data = payload
    if type(data) ~= "string" then
        data = json.encode(payload == nil and json.null or payload)
    end
    return json.encode({ event = event or "message", data = data })
end

return M
