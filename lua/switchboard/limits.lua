--- The limits of a server, checked: sb.listen{ limits = { ... } } (or the
-- same names at the top level of the options, as before `limits` existed;
-- a name in `limits` wins).  Every value is what the C core expects; nil
-- leaves its default: core.defaults(), from csrc/base/defaults.h (the
-- README's "Defaults" table lists them).
local core = require "switchboard.core"
local options = require "switchboard.options"

local M = {}

local DEFAULTS = core.defaults()

-- The names and their ranges: switchboard.options (schemas.limit_fields).
local LIMIT_FIELDS = options.schemas.limit_fields

local NAMES = {}
for k in pairs(LIMIT_FIELDS) do
    NAMES[#NAMES + 1] = k
end
table.sort(NAMES)

-- The limits at the top level and limits = { ... }, alone.
local fields = { limits = options.schemas.limits }
for k, v in pairs(LIMIT_FIELDS) do
    fields[k] = v
end
local LIMITS_ONLY = options.record(fields)

--- Returns { name = value } for every limit given (checked), merged from
-- opts and opts.limits.
function M.resolve(opts)
    local given = {}
    for _, k in ipairs(NAMES) do
        given[k] = opts[k]
    end
    given.limits = opts.limits
    options.check("switchboard.listen", LIMITS_ONLY, given, 3)
    local out = {}
    for _, k in ipairs(NAMES) do
        out[k] = opts[k]
    end
    for k, v in pairs(opts.limits or {}) do
        out[k] = v
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
