--- switchboard.api: the server API's methods (docs/api.md).
-- A backend that speaks only HTTP calls POST <prefix>/<method> with a key;
-- the C core (csrc/protocols/api) reads the request and asks this module
-- twice: whether the key may call the method (before the body is read),
-- then for the answer to the body.  Methods run on the server's hub, so
-- publishes and queries cover the cluster when it has one; what a call
-- does to a user's connections is in switchboard.api_users.  Internal:
-- server.lua makes one per server with `api = { ... }`.
local core = require "switchboard.core"
local json = require "switchboard.json"
local options = require "switchboard.options"
local users = require "switchboard.api_users"

local M = {}

local METHOD_NAMES = options.schemas.api_methods

local Api = {}
Api.__index = Api

-- Most messages a history answer holds (and its default).
local HISTORY_MAX, HISTORY_DEFAULT = 10000, 100
-- Most channels one publish names.
local CHANNELS_MAX = 1000

-- A refusal the C core sends as it is: status, JSON body.
local function refusal(status, code, message)
    return status, json.encode({ error = { code = code, message = message } })
end

-- What a method returns when the request cannot be served.
local function bad(message, code, status)
    return nil, { status or 400, code or "bad_request", message }
end

local function is_object(v)
    return type(v) == "table" and v[1] == nil and getmetatable(v) ~= json.array_mt
end

-- Refuses fields a method does not take, naming the nearest it does.
local function known_fields(p, names)
    for k in pairs(p) do
        local found = false
        for _, n in ipairs(names) do
            found = found or n == k
        end
        if not found then
            local near = options.suggest(tostring(k), names)
            return bad(("unknown field %q (%s)"):format(tostring(k),
                near and ("did you mean '" .. near .. "'?") or ("known: " .. table.concat(names, ", "))))
        end
    end
    return true
end

local function check_channel(v, name)
    if type(v) ~= "string" then
        return bad(("%s must be a channel name string, got %s"):format(name, options.show(v)))
    end
    if not core.hub_valid_channel(v) then
        return bad(("invalid channel name %q: want 1..255 bytes of [A-Za-z0-9_.:@/-]"):format(v),
            "bad_channel")
    end
    return v
end

-- p.channel, required unless optional.
local function channel_of(p, optional)
    if p.channel == nil then
        if optional then
            return false
        end
        return bad("'channel' is required")
    end
    return check_channel(p.channel, "'channel'")
end

-- p.channels: a list of 1..CHANNELS_MAX channel names.
local function channel_list(p)
    local list = p.channels
    if type(list) ~= "table" or list[1] == nil or #list > CHANNELS_MAX then
        return bad(("'channels' must be a list of 1..%d channel names"):format(CHANNELS_MAX))
    end
    for i, ch in ipairs(list) do
        local ok, err = check_channel(ch, ("'channels'[%d]"):format(i))
        if not ok then
            return nil, err
        end
    end
    return list
end

-- p.event: 1..64 bytes without control characters; "message" by default
-- (the rule of POST /sse's ?event=).
local function event_of(p)
    local ev = p.event
    if ev == nil then
        return "message"
    end
    if type(ev) ~= "string" or #ev == 0 or #ev > 64 or ev:find("%c") then
        return bad("'event' must be a string of 1..64 bytes without control characters")
    end
    return ev
end

local function data_of(p)
    if p.data == nil then
        return bad("'data' is required (any JSON value, null included)")
    end
    return p.data
end

-- p[name]: a member id (an integer is taken as its digits).
local function member_of(p, name)
    local v = p[name]
    if type(v) == "number" and v == math.floor(v) then
        v = ("%d"):format(v)
    end
    if type(v) ~= "string" or not core.hub_valid_member(v) then
        return bad(("'%s' must be a member id: 1..255 bytes without control characters"):format(name))
    end
    return v
end

-- p[name]: a whole number in min..max, or def when absent.
local function whole_of(p, name, min, max, def)
    local v = p[name]
    if v == nil then
        return def
    end
    if type(v) ~= "number" or v ~= math.floor(v) or v < min or v > max then
        return bad(("'%s' must be a whole number %d..%d"):format(name, min, max))
    end
    return v
end

local METHODS = {}

-- What a method returns, with start(done), when its answer needs the
-- cluster: Api:call holds the request, start asks the cluster, and
-- done(result | nil, err) answers (at once, or later by the ticket).
local HELD = setmetatable({}, { __tostring = function() return "held" end })

-- How long a user operation waits for the other nodes' counts: short,
-- and always before the C core's api.timeout answers 504.
local GATHER_MAX = 1

-- A user operation: this node's counts, or in a cluster the total of
-- every node's (switchboard.api_users).
local function user_op(self, op)
    if not rawget(self.hub, "_cluster") then
        return users.run(self.hub, op)
    end
    return HELD, function(done)
        users.gather(self.hub, op, self._server._loop, math.min(GATHER_MAX, self._timeout * 0.8), done)
    end
end

--- publish { channel | channels, event?, data }: a message for every
-- subscriber of every protocol, as hub:publish sends it.
function METHODS.publish(self, p)
    local ok, err = known_fields(p, { "channel", "channels", "event", "data" })
    if not ok then
        return nil, err
    end
    if (p.channel == nil) == (p.channels == nil) then
        return bad("give 'channel' (one name) or 'channels' (a list), not both nor neither")
    end
    local list, event, data
    if p.channels ~= nil then
        list, err = channel_list(p)
    else
        list, err = channel_of(p)
        list = list and { list }
    end
    if not list then
        return nil, err
    end
    event, err = event_of(p)
    if not event then
        return nil, err
    end
    data, err = data_of(p)
    if data == nil then
        return nil, err
    end
    local total, by = 0, {}
    -- in a cluster, hub:publish counts this node's receivers only; the
    -- channel's connection count covers every node (as far as this one
    -- knows), and that is who gets the message
    local clustered = self.hub:cluster_stats() ~= nil
    for _, ch in ipairs(list) do
        local n = assert(self.hub:publish(ch, event, data))
        if clustered then
            n = self.hub:connection_count(ch)
        end
        by[ch] = n
        total = total + n
    end
    if p.channels ~= nil then
        return { receivers = total, by_channel = by }
    end
    return { receivers = total }
end

--- broadcast { user, channel?, event?, data }: one message to every
-- connection of a member; { channels = [...] } without a user is
-- Centrifugo's broadcast, a publish to each channel.
function METHODS.broadcast(self, p)
    if p.user == nil and p.channels ~= nil then
        return METHODS.publish(self, p)
    end
    local ok, err = known_fields(p, { "user", "channel", "event", "data" })
    if not ok then
        return nil, err
    end
    local user, channel, event, data
    user, err = member_of(p, "user")
    if not user then
        return nil, err
    end
    channel, err = channel_of(p, true)
    if channel == nil then
        return nil, err
    end
    event, err = event_of(p)
    if not event then
        return nil, err
    end
    data, err = data_of(p)
    if data == nil then
        return nil, err
    end
    return users.broadcast(self.hub, user, channel or nil, event, data)
end

-- A body of one field, channel.
local function channel_only(p)
    local ok, err = known_fields(p, { "channel" })
    if not ok then
        return nil, err
    end
    return channel_of(p)
end

--- presence { channel }: the members present, sorted.
function METHODS.presence(self, p)
    local ch, err = channel_only(p)
    if not ch then
        return nil, err
    end
    return { members = json.array(self.hub:presence(ch)) }
end

--- presence_stats { channel }: member and connection counts (and, in a
-- cluster, the connections of each node).
function METHODS.presence_stats(self, p)
    local ch, err = channel_only(p)
    if not ch then
        return nil, err
    end
    local result = { members = self.hub:member_count(ch), connections = self.hub:connection_count(ch) }
    local st = self.hub:cluster_stats()
    if st then
        result.nodes = st.by_channel[ch] or {}
    end
    return result
end

-- The history answer of a page of messages at position (epoch, offset).
local function history_result(messages, epoch, offset)
    local result = { messages = messages, offset = offset }
    if epoch ~= 0 then
        result.position = ("%.0f-%.0f"):format(epoch, offset)
    end
    return result
end

local function unrecoverable(why, since)
    return bad(("%s: the history cannot be read after %s"):format(why, since),
        "unrecoverable_position", 409)
end

-- This node's own copy of the history (the whole of it without a
-- cluster; with one, what a node that follows the channel cached).
local function local_history(self, ch, limit, since)
    local messages, epoch, offset = core.hub_history(self.hub.core, ch, limit, since)
    if not messages then
        return unrecoverable(epoch, since)   -- nil, reason, epoch, offset
    end
    return history_result(messages, epoch, offset)
end

-- list[from..to] as a JSON array.
local function slice(list, from, to)
    local out = json.array()
    for i = math.max(from, 1), math.min(to, #list) do
        out[#out + 1] = list[i]
    end
    return out
end

-- Reads from Redis: read(e, after, fn) is cluster:history_read, with a
-- Redis that went away meanwhile turned into that page.
local function reader(cluster, ch)
    return function(e, after, fn)
        if not cluster:history_read(ch, e, after, fn) then
            fn({ reason = "redis-unavailable", messages = json.array() })
        end
    end
end

-- A page that is no answer: Redis went, or the position is gone.
local function page_error(page, since)
    if page.reason == "redis-unavailable" then
        return bad("Redis did not answer the history read", "unavailable", 503)
    end
    return unrecoverable(page.reason, since or "the newest messages")
end

-- The newest messages Redis keeps, at most `want`, after its position
-- (e, o): the `want` newest in one read when none expired, else a
-- binary search for how many are left (each read checks its oldest
-- message's age, and the kept ones are always the newest), as
-- core.hub_history searches the local ring.
local function newest(read, e, o, want, done)
    local function search(lo, hi, best)
        -- lo messages are readable (best holds them), hi are not
        if hi - lo <= 1 then
            return done(history_result(best.messages, best.epoch, best.offset))
        end
        local mid = math.floor((lo + hi) / 2)
        read(e, o - mid, function(page)
            if page.reason == "history-expired" then
                return search(lo, mid, best)
            elseif page.reason then
                return done(page_error(page))
            end
            search(mid, hi, page)
        end)
    end
    local none = { messages = json.array(), epoch = e, offset = o }
    if want == 0 then
        return search(0, 1, none)
    end
    read(e, o - want, function(page)
        if page.reason == "history-expired" then
            return search(0, want, none)
        elseif page.reason then
            return done(page_error(page))
        end
        -- newer messages may have come since (e, o) was read
        page.messages = slice(page.messages, #page.messages - want + 1, #page.messages)
        done(history_result(page.messages, page.epoch, page.offset))
    end)
end

-- The history from Redis, for a node that may not follow the channel
-- (its own copy is then empty or partial).  Without `since`, a first
-- read of position 0-0 learns the channel's position (Redis says
-- epoch-changed with it), a second reads the newest `limit`.  A channel
-- without shared history (or Redis down before the first read) gets
-- this node's copy, as without a cluster.
local function shared_history(self, cluster, ch, limit, since)
    return function(done)
        local read = reader(cluster, ch)
        local se, so = 0, 0
        if since then
            local a, b = since:match("^(%d+)%-(%d+)$")
            se, so = tonumber(a), tonumber(b)
        end
        local count
        count = cluster:history_read(ch, se, so, function(page)
            if since and not page.reason then
                return done(history_result(slice(page.messages, 1, limit), page.epoch, page.offset))
            elseif since or page.reason == "redis-unavailable" then
                return done(page_error(page, since))
            elseif page.reason == "unknown-channel" or page.epoch == 0 then
                return done(history_result(json.array(), 0, 0))
            end
            newest(read, page.epoch, page.offset,
                math.min(limit, page.offset, count), done)
        end)
        if not count then
            return done(local_history(self, ch, limit, since))
        end
    end
end

--- history { channel, limit?, since? }: the kept messages, oldest first;
-- in a cluster with shared history, read from Redis.
function METHODS.history(self, p)
    local ok, err = known_fields(p, { "channel", "limit", "since" })
    if not ok then
        return nil, err
    end
    local ch, limit
    ch, err = channel_of(p)
    if not ch then
        return nil, err
    end
    limit, err = whole_of(p, "limit", 1, HISTORY_MAX, HISTORY_DEFAULT)
    if not limit then
        return nil, err
    end
    local since = p.since
    if since ~= nil and (type(since) ~= "string" or not since:match("^%d+%-%d+$") or #since > 64) then
        return bad("'since' must be a position \"<epoch>-<offset>\" (the 'position' or an 'id' of an answer)")
    end
    local cluster = rawget(self.hub, "_cluster")
    if cluster then
        return HELD, shared_history(self, cluster, ch, limit, since)
    end
    return local_history(self, ch, limit, since)
end

--- channels { prefix? }: the channels with connections, their counts.
function METHODS.channels(self, p)
    local ok, err = known_fields(p, { "prefix" })
    if not ok then
        return nil, err
    end
    local prefix = p.prefix
    if prefix ~= nil and type(prefix) ~= "string" then
        return bad("'prefix' must be a string")
    end
    local list = json.array()
    for _, c in ipairs(self.hub:channels()) do
        if not prefix or c.name:sub(1, #prefix) == prefix then
            list[#list + 1] = c
        end
    end
    return { channels = list }
end

-- Who a user operation names: { user = member } or { connection = uid },
-- once p holds no field but those of `names`.
local function target_of(p, names)
    local ok, err = known_fields(p, names)
    if not ok then
        return nil, err
    end
    if (p.user == nil) == (p.connection == nil) then
        return bad("give 'user' (a member id) or 'connection' (a connection's uid), not both nor neither")
    end
    local field = p.user ~= nil and "user" or "connection"
    local id
    id, err = member_of(p, field)
    if not id then
        return nil, err
    end
    return { [field] = id }
end

-- The close codes a disconnect may ask for: those a client can act on
-- (docs/protocols.md#close-codes) and the application range.
local function close_code_ok(c)
    return c == 1000 or c == 1001 or c == 1008 or c == 1011 or c == 1012 or c == 1013
        or (c >= 3000 and c <= 4999)
end

--- disconnect { user | connection, code?, reason? }: closes them.
function METHODS.disconnect(self, p)
    local op, err = target_of(p, { "user", "connection", "code", "reason" })
    if not op then
        return nil, err
    end
    local code = p.code == nil and 1000 or p.code
    if type(code) ~= "number" or code ~= math.floor(code) or not close_code_ok(code) then
        return bad("'code' must be 1000, 1001, 1008, 1011, 1012, 1013 or 3000..4999")
    end
    local reason = p.reason == nil and "disconnected by the server" or p.reason
    if type(reason) ~= "string" or #reason > 60 or reason:find("%c") then
        return bad("'reason' must be a string of at most 60 bytes without control characters")
    end
    op.op, op.code, op.reason = "disconnect", code, reason
    return user_op(self, op)
end

-- subscribe and unsubscribe { user | connection, channel }.
local function membership(op_name)
    return function(self, p)
        local op, err = target_of(p, { "user", "connection", "channel" })
        if not op then
            return nil, err
        end
        local ch
        ch, err = channel_of(p)
        if not ch then
            return nil, err
        end
        op.op, op.channel = op_name, ch
        return user_op(self, op)
    end
end

--- subscribe: the user's Phoenix sockets also get the channel's messages.
METHODS.subscribe = membership("subscribe")
--- unsubscribe: they stop getting them; native and SSE connections of
-- that channel are closed (it is their only one).
METHODS.unsubscribe = membership("unsubscribe")

--- The permissions of a key: the set of methods it may call, or nil.
-- Every configured key is compared, in time independent of which one
-- matches.
function Api:permissions(key)
    local found
    for _, k in ipairs(self._keys) do
        if core.equal_secret(k.key, key) then
            found = k.perms
        end
    end
    return found
end

--- Before the body: nil when the key may call the method, else the
-- refusal (status, JSON).
function Api:auth(method, key)
    local perms = self:permissions(key)
    if not perms then
        return refusal(401, "unauthorized", "invalid API key")
    end
    if not METHODS[method] then
        local near = options.suggest(method, METHOD_NAMES)
        return refusal(404, "unknown_method", ("no method %q (%s)"):format(method,
            near and ("did you mean '" .. near .. "'?") or ("known: " .. table.concat(METHOD_NAMES, ", "))))
    end
    if not perms[method] then
        return refusal(403, "forbidden", ("this key may not call %s"):format(method))
    end
    return nil
end

-- A method's result (or nil, err) as status and JSON.
local function answer(result, err)
    if not result then
        return refusal(err[1], err[2], err[3])
    end
    return 200, json.encode({ result = result })
end

-- A method that gave HELD, start: when start answers before it returns
-- (Redis down, nothing to wait for) that is the answer; else the C core
-- holds the request (true) and done answers it by its ticket, unless it
-- timed out (504) or its client went meanwhile.
function Api:_hold(ticket, start)
    local held, status, text = false, nil, nil
    local function done(result, err)
        if status then
            return   -- answered already
        end
        status, text = answer(result, err)
        if held then
            self._server._srv:api_reply(ticket, status, text)
        end
    end
    start(done)
    if status then
        return status, text
    end
    held = true
    return true
end

--- The call: status and JSON answer, {"result": ...} or {"error": ...};
-- or true when the answer comes later (by `ticket`, the C core's number
-- of the request: server:api_reply).
function Api:call(method, key, body, ticket)
    local status, text = self:auth(method, key)
    if status then
        return status, text
    end
    if not is_object(body) then
        return refusal(400, "bad_request", "the body must be a JSON object")
    end
    local result, err = METHODS[method](self, body)
    if result == HELD then
        return self:_hold(ticket, err)
    end
    return answer(result, err)
end

--- A server's API: opts is the `api` option, checked by switchboard.options.
function M.new(server, opts)
    local keys = {}
    local names = {}
    for k in pairs(opts.keys) do
        names[#names + 1] = k
    end
    table.sort(names)
    for _, k in ipairs(names) do
        local perms, given = {}, opts.keys[k]
        for _, m in ipairs(given == true and METHOD_NAMES or given) do
            perms[m] = true
        end
        keys[#keys + 1] = { key = k, perms = perms }
    end
    return setmetatable({ hub = server.hub, _keys = keys, _server = server,
        _timeout = opts.timeout or core.defaults().api_timeout.value }, Api)
end

return M
