--- A zero-config public relay in the manner of itty.ws: any channel, no
-- app logic, so every message takes the C fast path (decode once, encode
-- once per protocol, fan out).  Used by `switchboard relay` and by
-- examples/relay.lua; benchmarks run it.
local sb = require "switchboard"
local cli = require "switchboard.cli"

local M = {}

-- redis/node: "" = a single node (see README "Cluster").
M.defaults = { host = "127.0.0.1", port = 8080, history = 100, no_events = false,
    redis = "", node = "", node_ttl = 0, workers = 1, api_key = "", pusher = "" }

--- One line per option, for --help.
M.descriptions = {
    host = 'address or name to listen on ("*": every interface)',
    port = "TCP port (0: any free port)",
    history = "messages each channel keeps for late joiners (0: none)",
    no_events = "native clients hear no joins or leaves of others",
    redis = "redis://HOST:PORT/DB shared by the nodes of a cluster (unset: one node)",
    node = "this node's name in the cluster (unset: a unique one)",
    node_ttl = "whole seconds without a heartbeat before the others drop this node (0: 10)",
    workers = "processes sharing the port (more than 1 needs --redis and a fixed --port)",
    api_key = "turn on the server API at /api with this key, allowed every method (unset: off)",
    pusher = "ID:KEY:SECRET: the Pusher protocol at /app/KEY for pusher-js, client events on, "
        .. "and a demo auth endpoint at /pusher/auth that signs every private-/presence- "
        .. "subscription (user_id: the request's user_id parameter) (unset: off)",
}

--- Splits --pusher ID:KEY:SECRET; nil and a message when it is not that.
function M.pusher_parts(s)
    local id, key, secret = s:match("^([^:]+):([%w_.%-]+):(.+)$")
    if not id then
        return nil, ("--pusher %q is not ID:KEY:SECRET (the key: letters, digits, '_', '.', '-')")
            :format(s)
    end
    return id, key, secret
end

-- The demo's authorize: every private- channel, and every presence-
-- channel for the user the request names (pusher-js sends it when the
-- page sets channelAuthorization.params.user_id).
local function demo_authorize(req)
    if req.channel_name:sub(1, 9) ~= "presence-" then
        return true
    end
    local user = req.params.user_id
    if user == nil or user == "" then
        return nil, "presence channels need a user_id parameter in the auth request "
            .. "(channelAuthorization: { params: { user_id: ... } })"
    end
    return { user_id = user, user_info = { name = user } }
end

--- The pusher = { ... } option of --pusher ID:KEY:SECRET (nil when unset).
function M.pusher_option(s)
    if (s or "") == "" then
        return nil
    end
    local id, key, secret = assert(M.pusher_parts(s))
    return { app_id = id, key = key, secret = secret, client_events = true,
        authorize = demo_authorize }
end

--- The combinations the command refuses before starting: nil, or the
-- message (in flags, as the user typed them).
function M.check(opts)
    if (opts.pusher or "") ~= "" then
        local ok, err = M.pusher_parts(opts.pusher)
        if not ok then
            return err
        end
    end
    if (opts.workers or 1) > 1 then
        if (opts.redis or "") == "" then
            return ("--workers %d needs --redis redis://HOST:PORT (the workers share channels through it)")
                :format(opts.workers)
        end
        if opts.port == 0 then
            return ("--workers %d needs a fixed --port (they share it)"):format(opts.workers)
        end
    end
    return nil
end

--- Starts the relay: { host, port, history = n, static = dir, no_events,
-- redis = "redis://HOST:PORT/DB", node = name, workers = n, api_key = key,
-- pusher = "ID:KEY:SECRET" }.
-- pusher: the Pusher protocol with client events and a demo auth endpoint
-- (docs/pusher.md) that signs every subscription.
-- api_key: the server API (docs/api.md) with one key that may do all.
-- workers: n processes on the port, sharing channels through redis.
-- no_events: native clients get no join/leave events about others (with
-- thousands of subscribers on one channel each join would reach them all).
-- Returns the server, or nil, err.
function M.listen(opts)
    opts = opts or {}
    local history = opts.history
    if history == 0 then
        history = nil
    end
    return sb.listen({
        host = opts.host or M.defaults.host,
        port = opts.port or M.defaults.port,
        history = history,
        static = opts.static,
        presence_events = not opts.no_events,
        redis = opts.redis ~= "" and opts.redis or nil,
        node = opts.node ~= "" and opts.node or nil,
        node_ttl = (opts.node_ttl or 0) > 0 and opts.node_ttl or nil,
        workers = opts.workers,
        api = (opts.api_key or "") ~= "" and { keys = { [opts.api_key] = true } } or nil,
        pusher = M.pusher_option(opts.pusher),
    })
end

--- Command-line entry: parses argv, serves until SIGINT/SIGTERM; returns
-- an exit code.
function M.main(argv, name)
    return cli.main(sb, argv, M.defaults, M.listen, name or "switchboard relay",
        { descriptions = M.descriptions, check = M.check })
end

return M
