-- listen{ workers = N }: N processes on one port (SO_REUSEPORT) sharing
-- channels through Redis, run the way people run them: the relay as a
-- process with --workers 2, a redis-server of the spec's own, and native
-- clients that the kernel spreads over both workers.
local support = require "support"
local R = require "redis_helper"

local wait_until, raw = support.wait_until, support.raw
local LUA, readfile, alive = support.LUA, support.readfile, support.alive

-- tools run without the suite's LD_PRELOAD (make test-asan preloads ASan,
-- and procps tools deadlock under it)
local function sh(cmd)
    local p = io.popen("env -u LD_PRELOAD " .. cmd)
    local out = p:read("*a")
    p:close()
    return out
end

-- pids of the processes holding established connections on port
local function serving_pids(port)
    local pids = {}
    for pid in sh(("ss -Htnp state established '( sport = :%d )'"):format(port)):gmatch("pid=(%d+)") do
        pids[pid] = true
    end
    return pids
end

-- the message envelopes a native client received (not join/leave events)
local function messages(c)
    local out = {}
    for _, f in ipairs(c.frames) do
        if type(f) == "table" and f.type == nil and f.message ~= nil then
            out[#out + 1] = f
        end
    end
    return out
end

local function count(t)
    local n = 0
    for _ in pairs(t) do
        n = n + 1
    end
    return n
end

local run = R.have_redis() and describe or pending

run("workers", function()
    local redis = R.Redis.new()
    local port, out, pid

    setup(function()
        redis:start()
        port = R.free_port()
        out = os.tmpname()
        os.execute(("sh -c 'exec %s examples/relay.lua --port %d --workers 2 --no-events "
            .. "--redis %s >%s 2>&1' & echo $! >%s.pid")
            :format(LUA, port, redis.url, out, out))
        assert(wait_until(function()
            pid = (readfile(out .. ".pid") or ""):match("%d+")
            local _, n = (readfile(out) or ""):gsub("listening on", "")
            return pid and n == 2
        end, 10), "two workers did not start: " .. tostring(readfile(out)))
    end)

    teardown(function()
        if pid and alive(pid) then
            os.execute("kill -9 " .. pid)
        end
        redis:stop()
        os.remove(out .. ".pid")
        os.remove(out)
    end)

    it("spreads connections over both workers, and every message reaches every client", function()
        local clients = {}
        for i = 1, 24 do
            clients[i] = raw(("ws://127.0.0.1:%d/c/workers-room"):format(port))
        end
        assert.truthy(wait_until(function()
            for _, c in ipairs(clients) do
                if not c.opened then
                    return false
                end
            end
            return true
        end, 10))
        -- the kernel's SO_REUSEPORT hash put clients on two processes
        assert.equal(2, count(serving_pids(port)))
        -- both workers have subscribed to the channel in Redis
        assert.truthy(wait_until(function()
            return sh(("redis-cli -p %d PUBSUB NUMSUB sb:ch:workers-room"):format(redis.port))
                :match("\n(%d+)") == "2"
        end, 10))
        for i, c in ipairs(clients) do
            c:send(('{"n":%d}'):format(i))
        end
        local function got_all()
            for _, c in ipairs(clients) do
                if #messages(c) < #clients - 1 then
                    return false
                end
            end
            return true
        end
        assert.truthy(wait_until(got_all, 10))
        support.settle(0.2)
        for i, c in ipairs(clients) do
            local seen = {}
            for _, f in ipairs(messages(c)) do
                seen[f.message.n] = (seen[f.message.n] or 0) + 1
            end
            -- everyone else's message exactly once, never one's own
            assert.equal(#clients - 1, count(seen))
            assert.is_nil(seen[i])
            for _, k in pairs(seen) do
                assert.equal(1, k)
            end
        end
        for _, c in ipairs(clients) do
            c:close()
        end
    end)

    it("stops every worker when the first one gets SIGTERM", function()
        local children = {}
        for child in (readfile(("/proc/%s/task/%s/children"):format(pid, pid)) or ""):gmatch("%d+") do
            children[#children + 1] = child
        end
        assert.equal(1, #children)
        os.execute("kill -TERM " .. pid)
        assert.truthy(wait_until(function()
            return not alive(pid) and not alive(children[1])
        end, 10), readfile(out))
    end)
end)
