-- listen{ workers = N }: N processes on one port (SO_REUSEPORT) sharing
-- channels through Redis, run the way people run them: the relay as a
-- process with --workers 2, a redis-server of the spec's own, and native
-- clients that the kernel spreads over both workers.  Messages between the
-- workers take the same-machine path, not Redis; a node of another machine
-- (a second relay on the same Redis) still gets them through Redis.
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

-- Listens on Redis channel ch with redis-cli; returns a function that says
-- how many switchboard messages ("m") it has heard so far, and one that
-- stops it.
local function redis_listen(redis, ch)
    local file = os.tmpname()
    local pid = sh(("sh -c 'redis-cli -p %d SUBSCRIBE %s >%s 2>&1 & echo $!'")
        :format(redis.port, ch, file)):match("%d+")
    local function heard()
        local n = 0
        for line in (readfile(file) or ""):gmatch("[^\n]+") do
            if line:match("^3:sb1,1:m,") then
                n = n + 1
            end
        end
        return n
    end
    return heard, function()
        os.execute("kill " .. pid)
        os.remove(file)
    end
end

local function numsub(redis, ch)
    return tonumber(sh(("redis-cli -p %d PUBSUB NUMSUB %s"):format(redis.port, ch)):match("\n(%d+)"))
end

-- every client sends one message; each must get everyone else's exactly
-- once and never its own
local function exchange(clients)
    for i, c in ipairs(clients) do
        c.frames = {}
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
        assert.equal(#clients - 1, count(seen))
        assert.is_nil(seen[i])
        for _, k in pairs(seen) do
            assert.equal(1, k)
        end
    end
end

local function all_open(clients)
    return wait_until(function()
        for _, c in ipairs(clients) do
            if not c.opened then
                return false
            end
        end
        return true
    end, 10)
end

-- clients of room: n1 on port1, then n2 on port2 ...; all open
local function open_clients(room, ...)
    local clients, args = {}, { ... }
    for j = 1, #args, 2 do
        for _ = 1, args[j + 1] do
            clients[#clients + 1] = raw(("ws://127.0.0.1:%d/c/%s"):format(args[j], room))
        end
    end
    assert.truthy(all_open(clients))
    return clients
end

-- waits until Redis holds n connections of room (every node announced its)
local function wait_presence(redis, room, n)
    assert.truthy(wait_until(function()
        return tonumber(sh(("redis-cli -p %d HLEN sb:pres:%s"):format(redis.port, room))
            :match("(%d+)")) == n
    end, 10))
end

local run = R.have_redis() and describe or pending

run("workers", function()
    local redis = R.Redis.new()
    local port, out, pid

    setup(function()
        redis:start()
        port = R.free_port()
        out = os.tmpname()
        os.execute(("sh -c 'exec %s examples/relay.lua --port %d --workers 2 --no-events --history 0 --node-ttl 1 "
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
        local clients = open_clients("workers-room", port, 24)
        -- the kernel's SO_REUSEPORT hash put clients on two processes
        assert.equal(2, count(serving_pids(port)))
        -- both workers have subscribed to the channel in Redis (presence
        -- and the rest still go through it)
        assert.truthy(wait_until(function()
            return sh(("redis-cli -p %d PUBSUB NUMSUB sb:ch:workers-room"):format(redis.port))
                :match("\n(%d+)") == "2"
        end, 10))
        -- a third listener on the channel in Redis hears what crosses it
        local heard, stop = redis_listen(redis, "sb:ch:workers-room")
        finally(stop)
        assert.truthy(wait_until(function() return numsub(redis, "sb:ch:workers-room") == 3 end, 10))
        -- for 0.35 node TTLs after connecting, a worker cannot know yet that
        -- no other machine's node is alive and sends to Redis too: probe
        -- until a message reaches the others without crossing Redis
        assert.truthy(wait_until(function()
            local before = heard()
            exchange({ clients[1], clients[2], clients[3], clients[4] })
            return heard() == before
        end, 10))
        local before = heard()
        exchange(clients)
        -- 24 messages, none of them through Redis
        assert.equal(before, heard())
        for _, c in ipairs(clients) do
            c:close()
        end
    end)

    it("still reaches a node of another machine through Redis, each message once", function()
        local other_port, other_out = R.free_port(), os.tmpname()
        os.execute(("sh -c 'exec %s examples/relay.lua --port %d --no-events --history 0 --node-ttl 1 --node elsewhere "
            .. "--redis %s >%s 2>&1' & echo $! >%s.pid")
            :format(LUA, other_port, redis.url, other_out, other_out))
        local other_pid
        finally(function()
            if other_pid and alive(other_pid) then
                os.execute("kill -9 " .. other_pid)
            end
            os.remove(other_out .. ".pid")
            os.remove(other_out)
        end)
        assert.truthy(wait_until(function()
            other_pid = (readfile(other_out .. ".pid") or ""):match("%d+")
            return other_pid and (readfile(other_out) or ""):match("listening on")
        end, 10), "the other node did not start: " .. tostring(readfile(other_out)))
        local clients = open_clients("mixed-room", port, 12, other_port, 4)
        assert.equal(2, count(serving_pids(port)))
        -- all three nodes follow the channel
        assert.truthy(wait_until(function()
            return sh(("redis-cli -p %d PUBSUB NUMSUB sb:ch:mixed-room"):format(redis.port))
                :match("\n(%d+)") == "3"
        end, 10))
        -- the workers heard the other node (its heartbeat), else they would
        -- keep their messages to themselves: wait until its presence is in
        wait_presence(redis, "mixed-room", 16)
        exchange(clients)
        for _, c in ipairs(clients) do
            c:close()
        end
    end)

    it("keeps serving while a worker is stopped, and that worker gets every message after", function()
        local child = (readfile(("/proc/%s/task/%s/children"):format(pid, pid)) or ""):match("%d+")
        assert.truthy(child)
        local clients = open_clients("stall-room", port, 12)
        assert.equal(2, count(serving_pids(port)))
        -- both workers follow the room (the joins are in Redis)
        wait_presence(redis, "stall-room", 12)
        os.execute("kill -STOP " .. child)
        local resumed = false
        finally(function()
            if not resumed then
                os.execute("kill -CONT " .. child)
            end
        end)
        -- 40 rounds, each in its own turns: more datagrams than the stopped
        -- worker's socket queues, so worker 1 keeps the rest in its backlog
        local rounds = 40
        for r = 1, rounds do
            for i, c in ipairs(clients) do
                c:send(('{"n":%d,"r":%d}'):format(i, r))
            end
            support.settle(0.02)
        end
        -- worker 1's clients got their neighbours' rounds meanwhile
        assert.truthy(wait_until(function()
            for _, c in ipairs(clients) do
                if #messages(c) >= rounds then
                    return true
                end
            end
        end, 10), "no client was served while worker 2 was stopped")
        os.execute("kill -CONT " .. child)
        resumed = true
        local want = (#clients - 1) * rounds
        assert.truthy(wait_until(function()
            for _, c in ipairs(clients) do
                if #messages(c) < want then
                    return false
                end
            end
            return true
        end, 20))
        for i, c in ipairs(clients) do
            local last = {}
            assert.equal(want, #messages(c))
            for _, f in ipairs(messages(c)) do
                local from, r = f.message.n, f.message.r
                assert.are_not.equal(i, from)
                -- each sender's rounds in order, none twice
                assert.equal((last[from] or 0) + 1, r)
                last[from] = r
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
