--- switchboard: realtime channels for Lua with a C core.
-- This module gathers the public API; each piece lives in its own module.
-- One event loop per Lua state runs every server, client and timer.
-- @module switchboard
local core = require "switchboard.core"

local M = {
    core = core,
}

--- The version of switchboard, a string (`"scm-1"` for a checkout).
-- @field version
M.version = core.version

--- The wall clock in epoch milliseconds (the `date` of every envelope).
-- @function now_ms
-- @treturn number
M.now_ms = core.now_ms

local default_loop

--- The event loop of this Lua state (made on first use).
function M.loop()
    if not default_loop then
        default_loop = assert(core.loop_new())
    end
    return default_loop
end

--- Runs until switchboard.stop() or until no server, client or timer is left.
function M.run()
    M.loop():run()
end

--- One bounded turn of the loop: waits at most `timeout` seconds (default 0).
-- Returns true while anything is still alive on the loop.
function M.step(timeout)
    if timeout ~= nil and type(timeout) ~= "number" then
        error("switchboard.step: timeout must be a number of seconds", 2)
    end
    return M.loop():step(timeout or 0)
end

--- Makes run() return at the end of the current loop turn.
function M.stop()
    M.loop():stop()
end

--- A file descriptor that becomes readable when the loop has work, for
-- driving switchboard from another loop (cqueues, luv, copas...).
function M.pollfd()
    return M.loop():pollfd()
end

--- Always "r": the pollfd becomes readable when there is work (for the
-- cqueues/lua-http pollable shape: pollfd, events, timeout).
function M.events()
    return "r"
end

--- Seconds until the loop wants a step (nil: no deadline, wait for pollfd).
function M.timeout()
    return M.loop():timeout()
end

local function check_timer_args(name, s, fn)
    if type(s) ~= "number" or s < 0 then
        error("switchboard." .. name .. ": seconds must be a number >= 0", 3)
    end
    if type(fn) ~= "function" then
        error("switchboard." .. name .. ": callback must be a function", 3)
    end
end

--- Calls fn once after s seconds; returns a timer with :cancel().
function M.after(s, fn)
    check_timer_args("after", s, fn)
    return M.loop():timer(s, 0, fn)
end

--- Calls fn every s seconds; returns a timer with :cancel().
function M.every(s, fn)
    check_timer_args("every", s, fn)
    if s == 0 then
        error("switchboard.every: interval must be > 0", 2)
    end
    return M.loop():timer(s, s, fn)
end

local SIGNALS = { INT = 2, TERM = 15, HUP = 1, USR1 = 10, USR2 = 12 }

--- Calls fn(signum) on the loop when the process gets a signal ("INT",
-- "TERM", "HUP", "USR1", "USR2" or a number); returns a watcher with
-- :cancel().  Watching a signal does not keep run() going by itself.
function M.on_signal(sig, fn)
    local num = SIGNALS[sig] or (type(sig) == "number" and sig)
    if not num then
        error("switchboard.on_signal: unknown signal '" .. tostring(sig) .. "'", 2)
    end
    if type(fn) ~= "function" then
        error("switchboard.on_signal: handler must be a function", 2)
    end
    return M.loop():signal(num, fn)
end

--- Where errors raised inside callbacks go: fn(where, message).  The
-- default prints them with their traceback on stderr.
function M.onerror(fn)
    core.set_onerror(fn)
end

--- sb.array([t]): marks t as a JSON list, so that it is sent as [] while
-- empty (lua-cjson writes an unmarked empty table as {}).  Lists that
-- switchboard's own calls return are marked already.
M.array = require("switchboard.json").array

--- Signed tokens (HS256 JWTs): sb.token.sign / sb.token.verify.
M.token = require "switchboard.token"

--- A hub with no sockets at all, for unit tests of room logic.
-- With opts.redis (and node, node_ttl, redis_log, redis_history_idle) it
-- joins a cluster.
function M.hub(opts)
    local hubmod = require("switchboard.hub")
    local options = require("switchboard.options")
    options.check("switchboard.hub", options.schemas.sb_hub, opts == nil and {} or opts, 2)
    if type(opts) ~= "table" or opts.redis == nil then
        return hubmod.new(opts)
    end
    local rest, cluster = {}, {}
    for k, v in pairs(opts) do
        if k == "redis" or k == "node" then
            cluster[k] = v
        elseif k == "node_ttl" then
            cluster.ttl = v
        elseif k == "redis_log" then
            cluster.log = v
        elseif k == "redis_history_idle" then
            cluster.history_idle = v
        else
            rest[k] = v
        end
    end
    local hub = hubmod.new(rest)
    local ok, err = hub:join_cluster(cluster, M.loop())
    if not ok then
        return nil, err
    end
    return hub
end

--- Starts a server on one port for every protocol.
-- The options (port, host, static, tls, limits, channels, history, sse,
-- phoenix, origins, redis, workers, log, ...) are listed in the "options"
-- topic; a misspelt name or a bad value raises.
-- @tparam table opts
-- @return the server (see switchboard.server), or nil and an error such as
-- "cannot listen on 127.0.0.1:8080: EADDRINUSE ..." (the "errors" topic)
function M.listen(opts)
    return require("switchboard.server").listen(M.loop(), opts)
end

--- A client for a native channel, in the shape of npm itty-sockets:
-- `sb.connect("ws://host:port/c/room", { alias = "ana" }):on("message", fn):send(msg)`.
-- It opens on first use, queues while offline and reconnects with
-- backoff; the options are in the "options" topic, the events in "events".
-- @string url ws:// or wss:// URL of a channel (`/c/<channel>`)
-- @tparam[opt] table opts
-- @return the client (see switchboard.client)
function M.connect(url, opts)
    return require("switchboard.client").connect(M.loop(), url, opts)
end

--- The Phoenix Channels client: sb.phoenix.socket(url, params, opts),
-- sb.phoenix.presence(channel); see lua/switchboard/phoenix.lua.
M.phoenix = {
    socket = function(url, params, opts)
        return require("switchboard.phoenix").socket(M.loop(), url, params, opts)
    end,
    presence = function(channel, opts)
        return require("switchboard.phoenix").presence(channel, opts)
    end,
}

return M
