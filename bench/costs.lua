--- Two known costs, measured (bench/costs.sh runs this against two builds):
--   close  n: n native clients on a server in this process; the CPU time
--          of server:close() itself (it marks every connection and arms
--          what cuts a peer that does not read), then of the whole
--          shutdown until every client saw its close.
--   direct m: a relay in a child process with m native clients in one
--          channel; one of them sends direct messages to another; the
--          child's CPU time per direct message (from /proc).
--   lua5.4 bench/costs.lua close 1000 2000 | direct 100 2000
-- Environment: SB_SERVER_LUA_CPATH, the C module the child relay of
-- "direct" loads (default: this process's LUA_CPATH).  Prints one line per
-- size with the median of REPS runs.
local sb = require "switchboard"

local REPS = tonumber(os.getenv("REPS") or "") or 3

local function median(list)
    table.sort(list)
    return list[math.floor((#list + 1) / 2)]
end

-- Steps the loop until cond() or `timeout` seconds; returns cond().
local function wait_for(cond, timeout)
    local deadline = sb.now_ms() + timeout * 1000
    while not cond() and sb.now_ms() < deadline do
        sb.step(0.01)
    end
    return cond()
end

local function clients(port, n, path)
    local list, opened, closed = {}, 0, 0
    for i = 1, n do
        local c = sb.connect(("ws://127.0.0.1:%d%s"):format(port, path), { reconnect = false })
        c:on("open", function() opened = opened + 1 end)
        c:on("close", function() closed = closed + 1 end)
        list[i] = c
    end
    return list, function() return opened end, function() return closed end
end

-- One shutdown of a server with n clients: ms of close(), ms until all closed.
local function close_once(n)
    local server = assert(sb.listen { port = 0, presence_events = false })
    local _, opened, closed = clients(server.port, n, "/c/room")
    assert(wait_for(function() return opened() == n end, 60), "clients did not open")
    -- close() runs on this thread without waiting: its CPU time is its cost
    local t0, c0 = sb.now_ms(), os.clock()
    server:close()
    local c1 = os.clock()
    assert(wait_for(function() return closed() == n end, 60), "clients did not close")
    return (c1 - c0) * 1000, sb.now_ms() - t0
end

local function bench_close(sizes)
    for _, n in ipairs(sizes) do
        local call, all = {}, {}
        for r = 1, REPS do
            call[r], all[r] = close_once(n)
        end
        print(("server-close  n=%-5d close() median %8.3f ms   until all closed %8.1f ms")
            :format(n, median(call), median(all)))
    end
end

local function proc_cpu_s(pid)
    local f = assert(io.open("/proc/" .. pid .. "/stat"))
    local stat = f:read("*a")
    f:close()
    local fields = {}
    for w in stat:match("%) (.*)$"):gmatch("%S+") do
        fields[#fields + 1] = w
    end
    return (tonumber(fields[12]) + tonumber(fields[13])) / 100
end

local RELAY = [[
local sb = require "switchboard"
local server = assert(sb.listen { port = 0, presence_events = false, max_rate = false })
io.stdout:write(server.port, "\n")
io.stdout:flush()
sb.run()
]]

-- One burst of `count` direct messages in a channel of m clients; returns
-- the child relay's CPU microseconds per direct message.
local function direct_once(m, count)
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(RELAY)
    f:close()
    local cpath = os.getenv("SB_SERVER_LUA_CPATH") or package.cpath
    local child = assert(io.popen(("LUA_CPATH='%s' exec lua5.4 %s & echo $!"):format(cpath, script)))
    local pid = child:read("*l")
    local port = tonumber(child:read("*l"))
    assert(port, "relay did not start")
    local list, opened = clients(port, m, "/c/room")
    local uid, got = nil, 0
    local receiver, sender = list[m], list[1]
    receiver:on("join", function(e) if e.self then uid = e.uid end end)
    receiver:on("message", function() got = got + 1 end)
    assert(wait_for(function() return opened() == m and uid end, 60), "clients did not open")
    local cpu0 = proc_cpu_s(pid)
    local sent, deadline = 0, sb.now_ms() + 120 * 1000
    -- in slices, so the sender's queue stays small
    while got < count do
        assert(sb.now_ms() < deadline, ("only %d of %d direct messages arrived"):format(got, count))
        while sent < count and sent - got < 200 do
            sent = sent + 1
            sender:send({ n = sent }, uid)
        end
        sb.step(0.001)
    end
    local cpu = proc_cpu_s(pid) - cpu0
    for _, c in ipairs(list) do
        c:close()
    end
    os.execute("kill " .. pid)
    child:close()
    os.remove(script)
    wait_for(function() return false end, 0.2)
    return cpu / count * 1e6
end

local function bench_direct(sizes)
    local count = tonumber(os.getenv("DIRECT_COUNT") or "") or 20000
    for _, m in ipairs(sizes) do
        local per = {}
        for r = 1, REPS do
            per[r] = direct_once(m, count)
        end
        print(("native-direct m=%-5d relay CPU median %6.2f us per direct message (%d sent)")
            :format(m, median(per), count))
    end
end

local what = arg[1]
local sizes = {}
for i = 2, #arg do
    sizes[#sizes + 1] = assert(tonumber(arg[i]), "sizes are numbers")
end
if what == "close" then
    bench_close(#sizes > 0 and sizes or { 1000, 2000 })
elseif what == "direct" then
    bench_direct(#sizes > 0 and sizes or { 100, 2000 })
else
    io.stderr:write("usage: lua5.4 bench/costs.lua close N... | direct M...\n")
    os.exit(2)
end
