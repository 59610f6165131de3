--- Helpers for the cluster specs (not a spec itself): a redis-server of
-- our own on a free loopback port, the fixture the cluster spec files
-- share (that server, nodes closed after each test, their Redis logs),
-- nodes in processes of their own, and waits on cluster links.
local sb = require "switchboard"
local socket = require "socket"
local support = require "support"

local M = {}

function M.have_redis()
    local ok = os.execute("command -v redis-server >/dev/null 2>&1")
    return ok == true or ok == 0
end

function M.free_port()
    local s = assert(socket.bind("127.0.0.1", 0))
    local _, port = s:getsockname()
    s:close()
    return tonumber(port)
end

-- A redis-server of our own: never a system one.
local Redis = {}
Redis.__index = Redis
M.Redis = Redis

function M.pidfile(port)
    return ("/tmp/switchboard-spec-redis-%d.pid"):format(port)
end

--- One that is not running yet: start() picks its port (in a spec's
-- setup, so that the port is still free then) and launches it.
function Redis.new()
    return setmetatable({}, Redis)
end

--- Launches it on a free port (or on `port`); returns self.
function Redis:start(port)
    self.port = port or M.free_port()
    self.url = ("redis://127.0.0.1:%d/0"):format(self.port)
    self:launch()
    return self
end

-- One command in the inline protocol on a connection of its own: the
-- first reply line and, for a bulk reply, its value (nil, nil when Redis
-- does not answer).
local function exchange(port, line)
    local c = socket.tcp()
    c:settimeout(0.2)
    if not c:connect("127.0.0.1", port) then
        c:close()
        return nil
    end
    c:send(line .. "\r\n")
    local head = c:receive("*l")
    local bulk
    if head and head:sub(1, 1) == "$" and head ~= "$-1" then
        bulk = c:receive("*l")
    end
    c:close()
    return head, bulk
end

--- One command; returns the first reply line ("+OK", ":1", ...).
function Redis:command(line)
    return (exchange(self.port, line))
end

--- The value of a command with a bulk or integer reply (nil if none).
function Redis:query(line)
    local head, bulk = exchange(self.port, line)
    local kind = head and head:sub(1, 1)
    if kind == "$" then
        return bulk
    elseif kind == ":" or kind == "+" then
        return head:sub(2)
    end
    return nil
end

function Redis:ping()
    return self:command("PING") == "+PONG"
end

function Redis:launch()
    os.remove(M.pidfile(self.port))
    assert(os.execute(("redis-server --port %d --bind 127.0.0.1 --save '' --appendonly no "
        .. "--daemonize yes --pidfile %s --logfile /dev/null"):format(self.port, M.pidfile(self.port))))
    assert(support.wait_until(function() return self:ping() end, 5), "redis-server did not start")
end

-- SIGKILL: an outage, not a shutdown.
function Redis:kill()
    local f = io.open(M.pidfile(self.port))
    local pid = f and f:read("*n")
    if f then
        f:close()
    end
    if pid then
        os.execute("kill -9 " .. pid .. " 2>/dev/null")
    end
    support.wait_until(function() return not self:ping() end, 3)
end

function Redis:stop()
    self:kill()
    os.remove(M.pidfile(self.port))
end

function M.quiet_log(lines)
    return function(line) lines[#lines + 1] = line end
end

--- What a cluster spec file's describe block shares: one redis-server
-- (fx.redis, started in setup), the nodes and clients to close after each
-- test (last first), and the log lines of the nodes' Redis links
-- (fx.logs).  Busted's hooks are not visible from a helper module, so the
-- spec wires them:
--   local fx = R.fixture()
--   setup(fx.start)
--   teardown(fx.stop)
--   after_each(fx.close_all)
function M.fixture()
    local fx = { redis = Redis.new(), logs = {}, closers = {} }

    function fx.start()
        fx.redis:start()
    end

    function fx.stop()
        fx.redis:stop()
    end

    --- Runs fn after this test.
    function fx.later(fn)
        fx.closers[#fx.closers + 1] = fn
    end

    function fx.close_all()
        for i = #fx.closers, 1, -1 do
            fx.closers[i]()
        end
        fx.closers = {}
        support.settle(0.05)
    end

    --- The options of node `node` of this cluster (Redis URL, log into
    -- fx.logs), and those of `extra`.
    function fx.options(node, extra)
        local opts = { redis = fx.redis.url, node = node, redis_log = M.quiet_log(fx.logs) }
        for k, v in pairs(extra or {}) do
            opts[k] = v
        end
        return opts
    end

    --- A server on a free port as node `node`, closed after the test.
    function fx.listen(node, extra)
        local opts = fx.options(node, extra)
        opts.port = 0
        local s = assert(sb.listen(opts))
        fx.later(function() s:close() end)
        return s
    end

    --- A hub as node `node`; it leaves the cluster after the test.
    function fx.hub(node, extra)
        local h = assert(sb.hub(fx.options(node, extra)))
        fx.later(function() h:leave_cluster() end)
        return h
    end

    return fx
end

--- Starts spec/redis_node.lua (a cluster node in a process of its own;
-- its arguments are `...`) under the interpreter running the spec.
-- Returns its pid and a function that SIGKILLs it.
function M.spawn_node(...)
    local child = assert(io.popen(("echo $$; exec %s spec/redis_node.lua %s")
        :format(support.LUA, table.concat({ ... }, " "))))
    local pid = child:read("*l")
    return pid, function()
        os.execute("kill -9 " .. pid)
        child:close()
    end
end

--- Starts spec/redis_relay_node.lua (a server node `name` on `port` in a
-- process of its own) and waits until it listens.  Returns a function
-- that SIGKILLs it (once), or nil and why.
function M.spawn_relay(url, name, ttl, port)
    local ready = os.tmpname()
    os.remove(ready)
    local child = assert(io.popen(("echo $$; exec %s spec/redis_relay_node.lua %s %s %s %d %s")
        :format(support.LUA, url, name, ttl, port, ready)))
    local pid = child:read("*l")
    local killed = false
    local function kill()
        if not killed then
            killed = true
            os.execute("kill -9 " .. pid)
            child:close()
            os.remove(ready)
        end
    end
    if not support.wait_until(function() return support.readfile(ready) ~= nil end, 10) then
        kill()
        return nil, "node " .. name .. " did not start"
    end
    return kill
end

--- Waits until every hub (or server.hub) given has its Redis link up and
-- has read the other nodes' presence.
function M.connected(...)
    local hubs = { ... }
    return support.wait_until(function()
        for _, h in ipairs(hubs) do
            local st = h:cluster_stats()
            if not (st and st.connected and st.synced) then
                return false
            end
        end
        return true
    end, 10)
end

return M
