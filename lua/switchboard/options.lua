--- switchboard.options: the schema of every options table the API takes
-- (sb.listen with its nested tables, the limits, channel rules,
-- server:channel handlers, sb.connect, sb.hub and hub:join_cluster) and the
-- one checker that reads them.  A misuse raises at the caller's level,
-- naming the option's path, the bad value and what it should be:
--
--   switchboard.listen: unknown option 'prot' (did you mean 'port'?)
--   switchboard.listen: option 'limits.max_rate' must be a number >= 0 or false (off), got -1
--
-- docs/options.md lists the same tables for people.  Internal: the
-- modules call M.check; the schemas are data so that one place says what
-- each table accepts.
local M = {}

-- Specs ----------------------------------------------------------------
-- A spec is a table: desc (what the value must be, as a message says it),
-- types (the Lua types it may take) and test(v, path, ctx) -> nil when v
-- is fine, else the message (without the "where: " prefix).

local function show(v)
    local t = type(v)
    if t == "string" then
        return ("%q"):format(v)
    elseif t == "number" then
        if v ~= v then
            return "nan"
        end
        if v == math.floor(v) and math.abs(v) < 2 ^ 53 then
            return ("%d"):format(v)
        end
        return tostring(v)
    elseif t == "boolean" or t == "nil" then
        return tostring(v)
    end
    return "a " .. t
end
M.show = show

local function name_of(path, ctx)
    return ("%s '%s'"):format(ctx.noun, path)
end

local function mismatch(spec, v, path, ctx)
    if path == nil then
        return ("%s must be %s, got %s"):format(ctx.what, spec.desc, show(v))
    end
    return ("%s must be %s, got %s"):format(name_of(path, ctx), spec.desc, show(v))
end

local function join(path, k)
    if type(k) == "string" and k:match("^[%a_][%w_]*$") then
        return path and (path .. "." .. k) or k
    end
    return (path or "") .. "[" .. show(k) .. "]"
end

local function with_check(spec, check)
    if check then
        local base = spec.test
        spec.test = function(v, path, ctx)
            local err = base(v, path, ctx)
            if err then
                return err
            end
            local phrase = check(v)
            return phrase and (name_of(path, ctx) .. " " .. phrase) or nil
        end
    end
    return spec
end

--- number{ min =, max =, above =, int = true, off = true (false allowed),
-- desc =, check = fn(v) -> nil | phrase }
function M.number(o)
    o = o or {}
    local desc = o.desc
    if not desc then
        desc = o.int and "a whole number" or "a number"
        if o.min and o.max then
            desc = ("%s %s..%s"):format(desc, show(o.min), show(o.max))
        elseif o.above then
            desc = ("%s > %s"):format(desc, show(o.above))
        elseif o.min then
            desc = ("%s >= %s"):format(desc, show(o.min))
        elseif o.max then
            desc = ("%s <= %s"):format(desc, show(o.max))
        end
        if o.off then
            desc = desc .. " or false (off)"
        end
    end
    local spec = { desc = desc, types = { number = true, boolean = o.off } }
    function spec.test(v, path, ctx)
        if v == false and o.off then
            return nil
        end
        if type(v) ~= "number" or v ~= v
            or (o.int and v ~= math.floor(v))
            or (o.min and v < o.min) or (o.max and v > o.max)
            or (o.above and v <= o.above) then
            return mismatch(spec, v, path, ctx)
        end
    end
    return with_check(spec, o.check)
end

--- string{ nonempty = true, desc =, check = fn(v) -> nil | phrase }
function M.string(o)
    o = o or {}
    local spec = { desc = o.desc or (o.nonempty and "a non-empty string" or "a string"),
        types = { string = true } }
    function spec.test(v, path, ctx)
        if type(v) ~= "string" or (o.nonempty and v == "") then
            return mismatch(spec, v, path, ctx)
        end
    end
    return with_check(spec, o.check)
end

--- A value of one Lua type: M.is("boolean", "true or false").
function M.is(t, desc)
    local spec = { desc = desc, types = { [t] = true } }
    function spec.test(v, path, ctx)
        if type(v) ~= t then
            return mismatch(spec, v, path, ctx)
        end
    end
    return spec
end

local BOOLEAN = M.is("boolean", "true or false")
local FUNCTION = M.is("function", "a function")

--- One of several specs; when only one of them takes v's Lua type, its
-- own (more precise) message is the answer.
function M.either(desc, ...)
    local alts = { ... }
    local spec = { desc = desc, types = {} }
    for _, a in ipairs(alts) do
        for t in pairs(a.types) do
            spec.types[t] = true
        end
    end
    function spec.test(v, path, ctx)
        local fits = {}
        for _, a in ipairs(alts) do
            local err = a.test(v, path, ctx)
            if not err then
                return nil
            end
            if a.types[type(v)] then
                fits[#fits + 1] = err
            end
        end
        if #fits == 1 then
            return fits[1]
        end
        return mismatch(spec, v, path, ctx)
    end
    return spec
end

--- A list (1..n, nothing else) of values of `item`.
function M.list(item, desc)
    local spec = { desc = desc or ("a list of " .. item.desc:gsub("^an? ", "") .. "s"),
        types = { table = true } }
    function spec.test(v, path, ctx)
        if type(v) ~= "table" then
            return mismatch(spec, v, path, ctx)
        end
        local n = 0
        for _ in pairs(v) do
            n = n + 1
        end
        if n ~= #v then
            return mismatch(spec, v, path, ctx)
        end
        for i = 1, #v do
            local err = item.test(v[i], join(path, i), ctx)
            if err then
                return err
            end
        end
    end
    return spec
end

local function sorted_keys(t)
    local keys = {}
    for k in pairs(t) do
        keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b)
        local ta, tb = type(a), type(b)
        if ta ~= tb then
            return ta < tb
        end
        if ta == "number" or ta == "string" then
            return a < b
        end
        return tostring(a) < tostring(b)
    end)
    return keys
end

--- A table of key = value where every key fits `key` and every value
-- fits `value` (channels, history, query).
function M.map(key, value, desc)
    local spec = { desc = desc, types = { table = true } }
    function spec.test(v, path, ctx)
        if type(v) ~= "table" then
            return mismatch(spec, v, path, ctx)
        end
        for _, k in ipairs(sorted_keys(v)) do
            if key.test(k, nil, { what = "x", noun = ctx.noun }) then
                return ("%s has the key %s; its keys must be %s"):format(
                    name_of(path, ctx), show(k), key.desc)
            end
            local err = value.test(v[k], join(path, k), ctx)
            if err then
                return err
            end
        end
    end
    return spec
end

-- Edit distance with adjacent transpositions ("prot" -> "port" is 1).
local function distance(a, b)
    local d = {}
    for i = 0, #a do
        d[i] = { [0] = i }
    end
    for j = 1, #b do
        d[0][j] = j
    end
    for i = 1, #a do
        for j = 1, #b do
            local cost = a:byte(i) == b:byte(j) and 0 or 1
            local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
                v = math.min(v, d[i - 2][j - 2] + 1)
            end
            d[i][j] = v
        end
    end
    return d[#a][#b]
end

--- The known name nearest to `name` (edit distance at most 2, and less
-- than the name's length), or nil.
function M.suggest(name, known)
    if type(name) ~= "string" then
        return nil
    end
    local best, best_d
    local lower = name:lower()
    for _, k in ipairs(known) do
        local d = distance(lower, k:lower())
        if d <= 2 and d < #name and (not best_d or d < best_d or (d == best_d and k < best)) then
            best, best_d = k, d
        end
    end
    return best
end

--- A table with named fields: record(fields, { required = { names },
-- check = fn(t, path) -> nil | message, desc = }).  Any other key is an
-- error that suggests the nearest known one.
function M.record(fields, o)
    o = o or {}
    local names = sorted_keys(fields)
    local spec = { desc = o.desc or "a table", types = { table = true }, fields = fields,
        names = names, required = o.required }
    function spec.test(v, path, ctx)
        if type(v) ~= "table" then
            return mismatch(spec, v, path, ctx)
        end
        for _, k in ipairs(sorted_keys(v)) do
            if not fields[k] then
                local near = M.suggest(k, names)
                local hint
                if near then
                    hint = ("did you mean '%s'?"):format(join(path, near))
                elseif #names <= 8 then
                    hint = "known: " .. table.concat(names, ", ")
                else
                    hint = "see docs/options.md"
                end
                return ("unknown %s '%s' (%s)"):format(ctx.noun, join(path, k), hint)
            end
        end
        for _, k in ipairs(o.required or {}) do
            if v[k] == nil then
                return ("%s is required (%s)"):format(name_of(join(path, k), ctx), fields[k].desc)
            end
        end
        for _, k in ipairs(names) do
            if v[k] ~= nil then
                local err = fields[k].test(v[k], join(path, k), ctx)
                if err then
                    return err
                end
            end
        end
        if o.check then
            return o.check(v, path)
        end
    end
    return spec
end

--- Checks `value` against `spec`; on a misuse raises "where: message" at
-- `level` as error() would in the function calling check (so 2 blames
-- that function's caller).  noun: what a key is called ("option"); what:
-- the whole table ("options").  Returns value.
function M.check(where, spec, value, level, noun, what)
    local err = spec.test(value, nil, { noun = noun or "option", what = what or "options" })
    if err then
        error(where .. ": " .. err, (level or 1) + 1)
    end
    return value
end

-- The schemas ------------------------------------------------------------

local S = {}
M.schemas = S

local function whole(min, max, off)
    return M.number({ int = true, min = min, max = max, off = off })
end

local NON_NEGATIVE = M.number({ min = 0 })

--- The limits (switchboard.limits): the same names are accepted at the top
-- level of sb.listen's options and inside limits = { ... }.
S.limit_fields = {
    max_message = whole(1), max_queue = whole(1),
    max_connections = whole(1, nil, true), max_per_ip = whole(1, nil, true),
    max_connect_rate = M.number({ above = 0, off = true }),
    limit_loopback = BOOLEAN,
    max_rate = M.number({ min = 0, off = true }),
    max_burst = M.number({ above = 0 }),
    max_channels = whole(1),
    phoenix_timeout = whole(0, 65535, true),
    handshake_timeout = whole(1, 3600),
    max_header_bytes = whole(1, 65535),
    max_url = whole(1, 65535),
    ping_interval = whole(1, 65535, true),
    idle_timeout = whole(1, 65535, true),
}
S.limits = M.record(S.limit_fields, { desc = "a table of limits" })

-- A readable directory: "dir/." opens only when dir is one.
local function readable_dir(path)
    local f = io.open(path .. "/.", "rb")
    if f then
        f:close()
        return nil
    end
    return ("names %s, which is not a readable directory"):format(("'%s'"):format(path))
end

local PATTERN = M.string({ nonempty = true, desc = "a non-empty pattern string" })

local HISTORY_RULE = M.either("a whole number >= 0 or { count = n >= 0, ttl = s >= 0 }",
    whole(0),
    M.record({ count = whole(0), ttl = NON_NEGATIVE }, { required = { "count" },
        desc = "{ count = n >= 0, ttl = s >= 0 }" }))

S.history = M.either("a whole number >= 0 or a table of pattern = { count =, ttl = }",
    whole(0),
    M.map(PATTERN, HISTORY_RULE, "a table of pattern = { count =, ttl = }"))

S.channel_rule = M.record({
    publish = M.either("true, false or function(conn, channel, msg, info)", BOOLEAN, FUNCTION),
    send_key = M.string({ nonempty = true }),
    history = HISTORY_RULE,
    watchers = BOOLEAN,
}, {
    desc = "a table { publish =, send_key =, history =, watchers = }",
    check = function(rule, path)
        if rule.send_key and rule.publish == false then
            return ("option '%s': publish = false and send_key contradict each other "
                .. "(send_key alone lets key holders publish)"):format(path)
        end
    end,
})

S.channels = M.map(PATTERN, S.channel_rule,
    "a table of pattern = { publish =, send_key =, history =, watchers = }")

local ORIGIN = M.string({ desc = "an origin string without spaces or commas",
    check = function(v)
        if v:find("[%s,]") then
            return ("is %s: origins may not hold spaces or commas"):format(show(v))
        end
    end })

S.sse = M.record({
    keepalive = NON_NEGATIVE,
    retry = M.number({ min = 0, off = true }),
    cors = M.either('"*", an origin or a list of origins', ORIGIN, M.list(ORIGIN)),
    max_body = NON_NEGATIVE,
}, { desc = "a table { keepalive =, retry =, cors =, max_body = }" })

S.longpoll = M.either("true, false (no LongPoll) or a table { window =, timeout =, max_body = }",
    BOOLEAN,
    M.record({
        window = M.number({ above = 0 }),
        timeout = M.number({ above = 0 }),
        max_body = whole(1),
    }, { desc = "a table { window =, timeout =, max_body = }" }))

S.tls = M.record({ cert = M.string({ nonempty = true, desc = "a PEM file path" }),
    key = M.string({ nonempty = true, desc = "a PEM file path" }) },
    { required = { "cert", "key" }, desc = "{ cert = path, key = path } (PEM files)" })

local STRINGS = M.list(M.string(), "a list of strings")

--- The server API's methods, in the order docs/api.md lists them
-- (switchboard.api runs them; a key's permissions name them).
S.api_methods = { "publish", "broadcast", "presence", "presence_stats", "history",
    "channels", "disconnect", "subscribe", "unsubscribe" }
local API_METHOD_SET = {}
for _, m in ipairs(S.api_methods) do
    API_METHOD_SET[m] = true
end

local API_METHOD = M.string({ desc = "a method name", check = function(v)
    if not API_METHOD_SET[v] then
        local near = M.suggest(v, S.api_methods)
        return ("is %s, which is no API method (%s)"):format(show(v),
            near and ("did you mean '" .. near .. "'?") or table.concat(S.api_methods, ", "))
    end
end })

local TRUE = { desc = "true", types = { boolean = true } }
function TRUE.test(v, path, ctx)
    if v ~= true then
        return mismatch(TRUE, v, path, ctx)
    end
end

-- What the C core takes from a header: printable ASCII, no spaces.
local API_KEY = M.string({ desc = "a key string of 1..256 printable ASCII characters, no spaces",
    check = function(v)
        if #v == 0 or #v > 256 or v:find("[^\33-\126]") then
            return "must be 1..256 printable ASCII characters without spaces"
        end
    end })

-- Routes the C core tries before the API's own (docs/protocols.md#routing).
local function api_prefix(v)
    if not v:match("^/[%w_.%-/]*[%w_.%-]$") or v:find("//", 1, true) then
        return ('is %s: want a path such as "/api" (no trailing slash)'):format(show(v))
    end
    for _, taken in ipairs({ "/sse", "/c", "/metrics" }) do
        if v == taken or v:sub(1, #taken + 1) == taken .. "/" then
            return ("is %s, which the server uses for %s"):format(show(v), taken)
        end
    end
end

S.api = M.record({
    keys = M.map(API_KEY, M.either("true or a list of method names", TRUE,
        M.list(API_METHOD, "a list of method names")),
        "a table of key = true | { method, ... }"),
    prefix = M.string({ desc = 'a path such as "/api"', check = api_prefix }),
    max_body = whole(1),
    timeout = M.number({ above = 0 }),
}, {
    required = { "keys" },
    desc = "a table { keys = { [key] = true | { method, ... } }, prefix =, max_body =, timeout = }",
    check = function(api, path)
        if next(api.keys) == nil then
            return ("option '%s.keys' names no key: nobody could call the API"):format(path)
        end
    end,
})


-- log = level | false | function(level, line) (util.apply_log applies it)
local LOG_LEVELS = { error = true, warn = true, info = true, debug = true, off = true }
local LOG = { desc = 'a level ("error", "warn", "info", "debug", "off"), false or a function(level, line)',
    types = { string = true, boolean = true, ["function"] = true } }
function LOG.test(v, path, ctx)
    if not (v == false or type(v) == "function" or (type(v) == "string" and LOG_LEVELS[v])) then
        return mismatch(LOG, v, path, ctx)
    end
end

-- Delays between attempts: sb.connect's reconnects, webhook retries.
S.backoff = M.record({
    initial = M.number({ above = 0 }),
    max = M.number({ above = 0 }),
    factor = M.number({ min = 1 }),
    jitter = M.number({ min = 0, max = 1 }),
}, { desc = "a table { initial =, max =, factor =, jitter = }" })

--- The webhook events, in the order docs/webhooks.md lists them.
S.webhook_events = { "channel_occupied", "channel_vacated", "member_added", "member_removed",
    "connection_open", "connection_close", "client_message" }
local WEBHOOK_EVENT_SET = {}
for _, e in ipairs(S.webhook_events) do
    WEBHOOK_EVENT_SET[e] = true
end

local WEBHOOK_EVENT = M.string({ desc = "an event name", check = function(v)
    if not WEBHOOK_EVENT_SET[v] then
        local near = M.suggest(v, S.webhook_events)
        return ("is %s, which is no webhook event (%s)"):format(show(v),
            near and ("did you mean '" .. near .. "'?") or table.concat(S.webhook_events, ", "))
    end
end })

-- http(s)://host[:port][/path]: what switchboard.webhooks can send to.
local function webhook_url(v)
    local scheme, rest = v:match("^(https?)://(.+)$")
    local host = rest and (rest:match("^%[([%x:.]+)%]") or rest:match("^([^/:?#]+)"))
    if not scheme or not host or host == "" then
        return ('is %s: want "http://HOST[:PORT]/PATH" or "https://..."'):format(show(v))
    end
    local port = rest:match("^%[[%x:.]+%]:(%d+)") or rest:match("^[^/:?#]+:(%d+)")
    if port and (tonumber(port) < 1 or tonumber(port) > 65535) then
        return ("is %s: the port must be 1..65535"):format(show(v))
    end
end

local HEADER_NAME = M.string({ desc = "a header name", check = function(v)
    if not v:match("^[%w!#$%%&'*+.^_`|~-]+$") or #v > 100 then
        return "must be a header name (letters, digits and !#$%&'*+.^_`|~-)"
    end
end })
local HEADER_VALUE = M.string({ desc = "a header value", check = function(v)
    if v:find("[%c]") then
        return "must not hold control characters"
    end
end })

S.webhook = M.record({
    url = M.string({ desc = 'an "http://" or "https://" URL', check = webhook_url }),
    secret = M.string({ nonempty = true, desc = "the non-empty key of the signatures" }),
    events = M.list(WEBHOOK_EVENT, "a list of event names"),
    channels = M.list(PATTERN, "a list of channel patterns"),
    client_messages = M.list(PATTERN, "a list of channel patterns"),
    batch = NON_NEGATIVE,
    max_batch = whole(1, 10000),
    max_queue = whole(1),
    retries = whole(0, 100),
    backoff = S.backoff,
    timeout = M.number({ above = 0 }),
    headers = M.map(HEADER_NAME, HEADER_VALUE, "a table of header name = value"),
    insecure = BOOLEAN,
    format = M.string({ desc = '"switchboard" or "pusher"', check = function(v)
        if v ~= "switchboard" and v ~= "pusher" then
            return ('is %s: want "switchboard" (the default) or "pusher"'):format(show(v))
        end
    end }),
}, { required = { "url" },
    desc = "a table { url =, secret =, events =, channels =, client_messages =, ... }",
    check = function(hook, path)
        -- a Pusher-format endpoint signs with the app's secret (`pusher`)
        if hook.secret == nil and hook.format ~= "pusher" then
            return ("option '%s.secret' is required (the non-empty key of the signatures)")
                :format(path or "webhooks")
        end
        local n = 0
        for _ in pairs(hook.headers or {}) do
            n = n + 1
        end
        -- the C request takes 32, and switchboard.webhooks sends 5 or 6 of its own
        if n > 16 then
            return ("option '%s.headers' has %d headers; at most 16"):format(path, n)
        end
    end })

-- One endpoint, or a list: told apart by a first item, so that a bad
-- endpoint gets the message of what it is wrong about.
local WEBHOOK_LIST = M.list(S.webhook, "a list of webhook tables")
S.webhooks = { desc = "a webhook table { url =, secret =, ... } or a list of them",
    types = { table = true } }
function S.webhooks.test(v, path, ctx)
    if type(v) ~= "table" then
        return mismatch(S.webhooks, v, path, ctx)
    end
    return (v[1] ~= nil and WEBHOOK_LIST or S.webhook).test(v, path, ctx)
end

-- pusher = { app_id, key, secret, ... }: the Pusher protocol at /app/<key>
-- (docs/pusher.md) and Pusher's HTTP API on /apps/<app_id>/...
-- (docs/pusher-http.md).  The key is a path segment of the socket's URL,
-- the app id one of the API's.
local PUSHER_ID = M.string({ desc = "a non-empty string without '/', spaces or control characters",
    check = function(v)
        if v == "" or v:find("[/%s%c]") then
            return ("is %s: want a non-empty string without '/', spaces or control characters")
                :format(show(v))
        end
    end })
local PUSHER_KEY = M.string({ desc = "a key string of letters, digits, '_', '.' and '-'",
    check = function(v)
        if not v:match("^[%w_.%-]+$") or #v > 200 then
            return "must be 1..200 letters, digits, '_', '.' or '-'"
        end
    end })

S.pusher = M.record({
    app_id = M.either("a non-empty string without '/', spaces or control characters, or a number",
        PUSHER_ID, whole(0)),
    key = PUSHER_KEY,
    secret = M.string({ nonempty = true, desc = "the non-empty secret of the signatures" }),
    client_events = BOOLEAN,
    authorize = FUNCTION,
    auth_path = M.string({ desc = 'a path such as "/pusher/auth"', check = function(v)
        if not v:match("^/[%w_.%-/]*$") or v:find("//", 1, true) then
            return ('is %s: want a path such as "/pusher/auth"'):format(show(v))
        end
    end }),
    activity_timeout = whole(1, 3600),
    auth_max_body = whole(1),
}, {
    required = { "app_id", "key", "secret" },
    desc = "a table { app_id =, key =, secret =, client_events =, authorize =, auth_path =, "
        .. "activity_timeout =, auth_max_body = }",
})

local listen_fields = {
    host = M.string({ desc = 'a host name or address string ("*" or "": every interface)' }),
    port = whole(0, 65535),
    static = M.string({ nonempty = true, desc = "a directory path", check = readable_dir }),
    static_follow_links = BOOLEAN,
    hub = M.is("table", "a hub (switchboard.hub())"),
    history = S.history,
    history_ttl = NON_NEGATIVE,
    typing_ttl = NON_NEGATIVE,
    sse = S.sse,
    channels = S.channels,
    redis = M.string({ desc = 'a "redis://HOST:PORT/DB" URL' }),
    node = M.string({ nonempty = true }),
    node_ttl = M.number({ above = 0 }),
    redis_log = FUNCTION,
    redis_history_idle = M.number({ above = 0 }),
    phoenix = M.list(M.string({ nonempty = true, desc = 'a mount path such as "/socket"' }),
        'a list of mount paths such as { "/socket" }'),
    longpoll = S.longpoll,
    origins = STRINGS,
    presence_events = BOOLEAN,
    compression = BOOLEAN,
    limits = S.limits,
    tls = S.tls,
    workers = whole(1, 256),
    log = LOG,
    api = S.api,
    webhooks = S.webhooks,
    pusher = S.pusher,
}
for k, v in pairs(S.limit_fields) do
    listen_fields[k] = v
end

-- The endpoints of a webhooks option, as a list.
local function webhook_list(w)
    if w == nil then
        return {}
    end
    return w.url and { w } or w
end

S.listen = M.record(listen_fields, {
    check = function(opts)
        for _, hook in ipairs(webhook_list(opts.webhooks)) do
            if hook.format == "pusher" and opts.pusher == nil then
                return 'webhooks with format = "pusher" need pusher = { app_id =, key =, secret = } '
                    .. "(their headers carry the app's key, their signature its secret)"
            end
        end
        local w = opts.workers
        if w and w > 1 then
            if type(opts.redis) ~= "string" then
                return "workers > 1 needs redis = \"redis://HOST:PORT\" "
                    .. "(workers share channels, presence and history through Redis)"
            end
            if not opts.port or opts.port == 0 then
                return "workers > 1 needs a fixed port (they share it)"
            end
        end
    end,
})

--- server:channel(pattern, handlers).
S.handlers = M.record({
    join = FUNCTION,
    leave = FUNCTION,
    on = M.map(M.string({ nonempty = true, desc = "event names" }), FUNCTION,
        "a table of event = function(conn, topic, payload, info)"),
    presence = BOOLEAN,
}, { desc = "a table { join =, leave =, on = { event = fn }, presence = }" })

--- sb.connect(url, opts).  alias, as, announce, echo, list, sendKey and
-- token go to the server in the query string; `query` carries any other
-- parameter.
local QUERY_VALUE = M.either("a string, number or boolean",
    M.string(), M.number(), BOOLEAN)

S.connect = M.record({
    alias = M.either("a string or number", M.string(), M.number()),
    as = M.either("a string or number", M.string(), M.number()),
    announce = BOOLEAN, echo = BOOLEAN, list = BOOLEAN,
    sendKey = M.string(), token = M.string(),
    reconnect = BOOLEAN,
    backoff = S.backoff,
    origin = M.string(),
    insecure = BOOLEAN,
    query = M.map(M.string({ nonempty = true, desc = "parameter names" }), QUERY_VALUE,
        "a table of name = value"),
    max_queue = whole(0),
    recover = BOOLEAN,
    since = M.string({ desc = 'an id string "<epoch>-<offset>"' }),
    log = LOG,
}, {
    check = function(opts)
        if opts.since ~= nil and not opts.recover then
            return "option 'since' needs recover = true"
        end
    end,
})

--- hub.new / sb.hub without a cluster.
S.hub_fields = {
    typing_ttl = NON_NEGATIVE, history = whole(0), history_ttl = NON_NEGATIVE,
    max_channels = whole(0), max_idle_channels = whole(0), clock = FUNCTION,
}
S.hub = M.record(S.hub_fields)

--- hub:join_cluster(opts).
S.cluster_fields = {
    redis = M.string({ desc = 'a "redis://HOST:PORT/DB" URL' }),
    node = M.string({ nonempty = true }),
    ttl = M.number({ above = 0 }),
    log = FUNCTION,
    history_idle = M.number({ above = 0 }),
}
S.cluster = M.record(S.cluster_fields, { required = { "redis" } })

--- sb.hub(opts): the hub's own options and, for a cluster, redis, node,
-- node_ttl, redis_log and redis_history_idle.
local sb_hub_fields = {
    redis = S.cluster_fields.redis, node = S.cluster_fields.node,
    node_ttl = S.cluster_fields.ttl, redis_log = FUNCTION,
    redis_history_idle = S.cluster_fields.history_idle,
}
for k, v in pairs(S.hub_fields) do
    sb_hub_fields[k] = v
end
S.sb_hub = M.record(sb_hub_fields, {
    check = function(opts)
        if opts.redis == nil then
            for _, k in ipairs({ "node", "node_ttl", "redis_log", "redis_history_idle" }) do
                if opts[k] ~= nil then
                    return ("option '%s' needs redis = \"redis://HOST:PORT/DB\" (it is for a cluster)")
                        :format(k)
                end
            end
        end
    end,
})

return M
