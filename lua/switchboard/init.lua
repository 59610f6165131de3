--- switchboard: realtime channels for Lua with a C core.
-- This module gathers the public API; each piece lives in its own module.
local core = require "switchboard.core"
local hub = require "switchboard.hub"

local M = {
    core = core,
    version = core.version,
}

--- A hub with no sockets at all, for unit tests of room logic.
-- @tparam[opt] table opts { typing_ttl = s, history = n, clock = fn }
function M.hub(opts)
    return hub.new(opts)
end

return M
