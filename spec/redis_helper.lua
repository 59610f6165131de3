--- Helpers for the cluster specs (not a spec itself): a redis-server of
-- our own on a free loopback port, and waits on cluster links.
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

function Redis.start(port)
    local self = setmetatable({ port = port or M.free_port() }, Redis)
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

--- Waits until every hub (or server.hub) given has its Redis link up.
function M.connected(...)
    local hubs = { ... }
    return support.wait_until(function()
        for _, h in ipairs(hubs) do
            local st = h:cluster_stats()
            if not (st and st.connected) then
                return false
            end
        end
        return true
    end, 10)
end

return M
