--- SSE fan-out burst: N EventSource-style streams on one channel of a
-- fresh relay, one native publisher sending M small messages as fast as
-- the loop goes; prints the wall time until every stream has every
-- message and the relay's CPU time for it (from /proc).
--   lua5.4 bench/sse_burst.lua [streams=200] [messages=5000] [port=9390]
-- (from the repo root after `make build`; LUA_PATH/LUA_CPATH as for the
-- examples: lua/?.lua, lua_modules/lib/lua/5.4/?.so)
local sb = require "switchboard"
local socket = require "socket"

local nstreams, nmsg = tonumber(arg[1]) or 200, tonumber(arg[2]) or 5000
local port = tonumber(arg[3]) or 9390

local pid = assert(io.popen(("lua5.4 examples/relay.lua --port %d --history 0 "
    .. ">/dev/null 2>&1 & echo $!"):format(port))):read("*l")

local function cpu_s()
    local f = assert(io.open("/proc/" .. pid .. "/stat"))
    local fields = {}
    for w in f:read("*a"):match("%) (.*)$"):gmatch("%S+") do
        fields[#fields + 1] = w
    end
    f:close()
    return (tonumber(fields[12]) + tonumber(fields[13])) / 100
end

local function connect()
    for _ = 1, 100 do
        local s = socket.tcp()
        s:settimeout(2)
        if s:connect("127.0.0.1", port) then
            return s
        end
        s:close()
        socket.sleep(0.05)
    end
    error("relay did not start on port " .. port)
end

-- The streams count "data:" fields, carrying a few bytes over between
-- reads so a field split across two reads is counted once.
local socks, counts, tails = {}, {}, {}
for i = 1, nstreams do
    local s = connect()
    s:send("GET /sse/burst HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    s:settimeout(0)
    socks[i], counts[s], tails[s] = s, 0, ""
end
local function drain()
    for _, s in ipairs((socket.select(socks, nil, 0))) do
        local d, _, part = s:receive(65536)
        d = d or part
        if d and #d > 0 then
            local buf = tails[s] .. d
            local _, k = buf:gsub("data:", "")
            local _, kt = tails[s]:gsub("data:", "")
            counts[s] = counts[s] + k - kt
            tails[s] = buf:sub(-4)
        end
    end
end

local open = false
local pub = sb.connect(("ws://127.0.0.1:%d/c/burst"):format(port), { reconnect = false })
pub:on("open", function() open = true end)
local deadline = socket.gettime() + 10
while not open and socket.gettime() < deadline do
    sb.step(0.01)
end
assert(open, "publisher did not connect")
socket.sleep(0.5)

local c0, t0, sent = cpu_s(), socket.gettime(), 0
while sent < nmsg do
    for _ = 1, 20 do
        sent = sent + 1
        pub:send({ n = sent })
    end
    sb.step(0)
    drain()
end
local function all_in()
    for _, s in ipairs(socks) do
        if counts[s] < nmsg then
            return false
        end
    end
    return true
end
deadline = socket.gettime() + 120
while not all_in() and socket.gettime() < deadline do
    sb.step(0)
    drain()
end
local t1, c1 = socket.gettime(), cpu_s()
local least = math.huge
for _, s in ipairs(socks) do
    least = math.min(least, counts[s])
end
os.execute("kill " .. pid)
print(("RESULT label=sse-burst streams=%d messages=%d wall_s=%.2f server_cpu_s=%.2f "
    .. "cpu_us_per_delivery=%.2f least_received=%d"):format(nstreams, nmsg, t1 - t0, c1 - c0,
    (c1 - c0) * 1e6 / (nstreams * nmsg), least))
