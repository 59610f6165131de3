--- Helpers for the example and interop specs that drive the switchboard
-- loop: bounded waits (never fixed sleeps) and clients that record every
-- event they see.
local sb = require "switchboard"

local M = {}

-- The bounded waits live in spec/support.lua (one implementation).
local support = require "support"

M.step = sb.step
M.wait_for = support.wait_for
M.settle = support.settle

--- A native client that keeps every frame event in `.events` (in order),
-- and notes open, close and error.  No reconnection.
function M.client(port, path, opts)
    opts = opts or {}
    opts.reconnect = false
    local rec = { events = {}, opened = false, closed = false, errors = {} }
    rec.c = sb.connect(("ws://127.0.0.1:%d%s"):format(port, path), opts)
    rec.c:on("open", function() rec.opened = true end)
    rec.c:on("close", function(e) rec.closed = e or {} end)
    rec.c:on("error", function(e) rec.errors[#rec.errors + 1] = e end)
    rec.c:on(function() return true end, function(e) rec.events[#rec.events + 1] = e end)
    return rec
end

--- Events of `rec` with e.type == t (optionally also passing pred(e)).
function M.of_type(rec, t, pred)
    local out = {}
    for _, e in ipairs(rec.events) do
        if e.type == t and (pred == nil or pred(e)) then
            out[#out + 1] = e
        end
    end
    return out
end

--- The last event of type t, or nil.
function M.last(rec, t)
    local list = M.of_type(rec, t)
    return list[#list]
end

--- Closes clients and servers and turns the loop until they are gone.
function M.cleanup(clients, apps)
    for _, rec in ipairs(clients or {}) do
        rec.c:close()
    end
    for _, app in ipairs(apps or {}) do
        app:close()
    end
    M.settle(0.05)
end

return M
