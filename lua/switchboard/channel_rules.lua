--- Per-channel rules of a server, by pattern: who may publish into a
-- channel (listen-only, send keys, a publish function), how much history
-- it keeps (the `history` option and the rules' own `history` entries),
-- and whether anonymous SSE streams only watch (`watchers = true`).
--
--   sb.listen{ channels = {
--       ["ticker:*"] = { publish = false },                  -- listen-only
--       ["news"]     = { send_key = "k3y" },                 -- itty's sendKey
--       ["room:*"]   = { publish = function(conn, channel, msg, info)
--                            return conn.assigns.can_post, "read-only member"
--                        end,
--                        history = { count = 50, ttl = 600 },
--                        watchers = true },
--   } }
--
-- A pattern is an exact channel name, "prefix*" or "*"; the exact name
-- wins, then the longest prefix (as `history` and server:channel do).
-- Only clients are held back: hub:publish from the server always goes out.
local options = require "switchboard.options"

local M = {}

-- channels = { [pattern] = rule }: switchboard.options checks it.
local CHANNELS = options.record({ channels = options.schemas.channels })

local Rules = {}
Rules.__index = Rules

local DENIED = "publish not allowed"

-- Compares every byte whatever the first difference, so the time taken
-- does not tell how much of a guessed key was right.
local function same_key(a, b)
    if type(a) ~= "string" or #a ~= #b then
        return false
    end
    local diff = 0
    for i = 1, #b do
        if a:byte(i) ~= b:byte(i) then
            diff = diff + 1
        end
    end
    return diff == 0
end

--- Checks opts.channels and returns the rules (possibly empty).
function M.new(channels)
    local self = setmetatable({ exact = {}, prefixes = {} }, Rules)
    if channels == nil then
        return self
    end
    options.check("switchboard.listen", CHANNELS, { channels = channels }, 3)
    for pattern, rule in pairs(channels) do
        if pattern:sub(-1) == "*" then
            self.prefixes[#self.prefixes + 1] = { pattern:sub(1, -2), rule }
        else
            self.exact[pattern] = rule
        end
    end
    -- longest prefix first
    table.sort(self.prefixes, function(a, b) return #a[1] > #b[1] end)
    return self
end

--- The history rules carried by `channels`, as history = { ... } wants them.
function Rules:history()
    local out
    local function add(pattern, rule)
        if rule.history ~= nil then
            out = out or {}
            out[pattern] = rule.history
        end
    end
    for pattern, rule in pairs(self.exact) do
        add(pattern, rule)
    end
    for _, pr in ipairs(self.prefixes) do
        add(pr[1] .. "*", pr[2])
    end
    return out
end

--- The rule of a channel, or nil.
function Rules:match(channel)
    local r = self.exact[channel]
    if r then
        return r
    end
    for _, pr in ipairs(self.prefixes) do
        if channel:sub(1, #pr[1]) == pr[1] then
            return pr[2]
        end
    end
    return nil
end

--- Whether a client holding `key` (nil: none) may publish into channel at
-- all; nil, reason when it may not.  The rule's function is not asked
-- here (see Rules:allow).
function Rules:may_publish(channel, key)
    local rule = self:match(channel)
    if not rule then
        return true
    end
    if rule.publish == false then
        return nil, DENIED .. ": " .. channel .. " is listen-only"
    end
    if rule.send_key then
        if key == nil or key == "" then
            return nil, DENIED .. ": " .. channel .. " needs a send key"
        end
        if not same_key(key, rule.send_key) then
            return nil, DENIED .. ": wrong send key"
        end
    end
    return true
end

--- Whether SSE streams of channel that name nobody are watchers rather
-- than members (the rule's `watchers = true`; docs/sse.md, "Watchers").
function Rules:watchers(channel)
    local rule = self:match(channel)
    return rule ~= nil and rule.watchers == true
end

--- Whether any rule looks at clients (listen-only, a send key, a publish
-- function, watchers): then a server's connections need their Lua objects
-- (server.lua); history alone does not.
function Rules:per_connection()
    local function looks(rule)
        return rule.publish ~= nil and rule.publish ~= true or rule.send_key ~= nil
            or rule.watchers == true
    end
    for _, rule in pairs(self.exact) do
        if looks(rule) then
            return true
        end
    end
    for _, pr in ipairs(self.prefixes) do
        if looks(pr[2]) then
            return true
        end
    end
    return false
end

--- The rule's publish function for channel, if it has one.
function Rules:hook(channel)
    local rule = self:match(channel)
    return rule and type(rule.publish) == "function" and rule.publish or nil
end

--- Asks the rule's function (if any) about one message: true, or nil and
-- the reason the client is told.
function Rules:ask(conn, channel, msg, info)
    local fn = self:hook(channel)
    if fn then
        local allowed, why = fn(conn, channel, msg, info)
        if not allowed then
            return nil, why ~= nil and tostring(why) or DENIED
        end
    end
    return true
end

--- The whole check for one message: the key, then the function.
function Rules:allow(conn, channel, key, msg, info)
    local ok, reason = self:may_publish(channel, key)
    if not ok then
        return nil, reason
    end
    return self:ask(conn, channel, msg, info)
end

-- history = n (every channel keeps n messages; history_ttl = s), or
-- history = { [pattern] = { count = n, ttl = s } | n, ... } where a pattern
-- is an exact channel name, "prefix*" or "*"; the longest match wins and
-- channels matching nothing keep no history.  Returns the hub options and
-- the rules ({ pattern, count, ttl }).
local function history_opts(h, ttl)
    if h == nil or type(h) == "number" then
        if h ~= nil and h < 0 then
            error("switchboard.listen: history must be >= 0", 4)
        end
        return h, ttl, nil
    end
    if type(h) ~= "table" then
        error("switchboard.listen: history must be a number or a table of pattern = { count, ttl }", 4)
    end
    local rules = {}
    for pattern, rule in pairs(h) do
        if type(rule) == "number" then
            rule = { count = rule }
        end
        if type(pattern) ~= "string" or pattern == "" or type(rule) ~= "table"
            or type(rule.count) ~= "number" or rule.count < 0
            or (rule.ttl ~= nil and (type(rule.ttl) ~= "number" or rule.ttl < 0)) then
            error(("switchboard.listen: history[%q] must be { count = n >= 0, ttl = s >= 0 }")
                :format(tostring(pattern)), 4)
        end
        rules[#rules + 1] = { pattern, math.floor(rule.count), rule.ttl or 0 }
    end
    return nil, nil, rules
end

--- The history options of sb.listen (history, history_ttl) merged with the
-- rules' own `history` entries: returns the hub's history and history_ttl
-- and the per-pattern rules, as history_opts does.  A number becomes the
-- "*" rule when there are per-pattern entries, so the two live together.
function Rules:history_options(history, history_ttl)
    local own = self:history()
    if not own then
        return history_opts(history, history_ttl)
    end
    local merged = {}
    if type(history) == "table" then
        for k, v in pairs(history) do
            merged[k] = v
        end
    elseif type(history) == "number" then
        merged["*"] = { count = history, ttl = history_ttl }
    end
    for pattern, rule in pairs(own) do
        if merged[pattern] ~= nil then
            error(("switchboard.listen: history for %q is given twice (history and channels)")
                :format(pattern), 3)
        end
        merged[pattern] = rule
    end
    return history_opts(merged, history_ttl)
end

return M
