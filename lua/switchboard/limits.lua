--- The limits of a server, checked: sb.listen{ limits = { ... } } (or the
-- same names at the top level of the options, as before `limits` existed;
-- a name in `limits` wins).  Every value is what the C core expects; nil
-- leaves its default: core.defaults(), from csrc/base/defaults.h (the
-- README's "Defaults" table lists them).
local core = require "switchboard.core"

local M = {}

local DEFAULTS = core.defaults()

-- name -> { kind, may be false (off), largest value }
local SPEC = {
    max_message = { "bytes" }, max_queue = { "bytes" },
    max_connections = { "count" }, max_per_ip = { "count" },
    max_rate = { "rate", true }, max_burst = { "rate" },
    max_channels = { "count" },
    phoenix_timeout = { "seconds", true, 65535 },
    handshake_timeout = { "seconds", false, 3600 },
    max_header_bytes = { "bytes", false, 65535 },
    max_url = { "bytes", false, 65535 },
    ping_interval = { "seconds", true, 65535 },
    idle_timeout = { "seconds", true, 65535 },
}

local NAMES = {}
for k in pairs(SPEC) do
    NAMES[#NAMES + 1] = k
end
table.sort(NAMES)

local function fail(where, k, what)
    error(("switchboard.listen: %s%s %s"):format(where, k, what), 5)
end

local function check(where, k, v)
    local spec = SPEC[k]
    if v == false and spec[2] then
        return false
    end
    if type(v) ~= "number" or v ~= v then
        fail(where, k, "must be a number" .. (spec[2] and " or false (off)" or ""))
    end
    if spec[1] ~= "rate" and v ~= math.floor(v) then
        fail(where, k, "must be a whole number of " .. spec[1])
    end
    -- 0 or less has always meant "off" for these two
    if v <= 0 and not (spec[2] and spec[1] == "rate") and k ~= "phoenix_timeout" then
        fail(where, k, "must be > 0")
    end
    if spec[3] and v > spec[3] then
        fail(where, k, ("must be at most %d"):format(spec[3]))
    end
    return v
end

--- Returns { name = value } for every limit given (checked), merged from
-- opts and opts.limits.
function M.resolve(opts)
    local out = {}
    for _, k in ipairs(NAMES) do
        if opts[k] ~= nil then
            out[k] = check("", k, opts[k])
        end
    end
    local lim = opts.limits
    if lim ~= nil then
        if type(lim) ~= "table" then
            error("switchboard.listen: limits must be a table", 3)
        end
        for k, v in pairs(lim) do
            if not SPEC[k] then
                error(("switchboard.listen: unknown limit '%s' (known: %s)")
                    :format(tostring(k), table.concat(NAMES, ", ")), 3)
            end
            out[k] = check("limits.", k, v)
        end
    end
    local ping, idle = out.ping_interval, out.idle_timeout
    -- lws hangs up `idle` seconds after the last pong and pings at `ping`:
    -- a ping must go out before the hang-up, with time for the answer
    local eff_ping = ping == nil and DEFAULTS.ping_interval.value or ping
    local eff_idle = idle == nil and DEFAULTS.idle_timeout.value or idle
    if eff_ping and eff_idle and eff_idle <= eff_ping then
        error(("switchboard.listen: idle_timeout (%d) must be greater than ping_interval (%d)")
            :format(eff_idle, eff_ping), 3)
    end
    return out
end

return M
