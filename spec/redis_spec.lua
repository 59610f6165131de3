-- Scale-out through Redis: two or three nodes (hubs or servers in this
-- process, one node in a child process for SIGKILL) and a real
-- redis-server on a free loopback port, started and stopped by the spec.
local sb = require "switchboard"
local support = require "support"
local socket = require "socket"

local wait_until, settle, raw = support.wait_until, support.settle, support.raw

local R = require "redis_helper"
local both_connected, have_redis = R.connected, R.have_redis

local function events(hub, log, name)
    for _, ev in ipairs { "presence:join", "presence:leave" } do
        hub:on(ev, function(ch, member) log[#log + 1] = ("%s %s %s %s"):format(name, ev, ch, member) end)
    end
end

local function count(list, item)
    local n = 0
    for _, x in ipairs(list) do
        if x == item then
            n = n + 1
        end
    end
    return n
end

if not have_redis() then
    describe("cluster through Redis", function()
        pending("redis-server is not installed")
    end)
    return
end

describe("cluster through Redis", function()
    local fx = R.fixture()
    local redis, logs = fx.redis, fx.logs

    setup(fx.start)
    teardown(fx.stop)
    after_each(fx.close_all)

    local function hub(node, ttl)
        return fx.hub(node, { node_ttl = ttl or 10 })
    end

    it("refuses a bad URL or node name up front", function()
        local h, err = sb.hub{ redis = "http://x", node = "a" }
        assert.is_nil(h)
        assert.matches("redis://", err)
        h, err = sb.hub{ redis = redis.url, node = "a b" }
        assert.is_nil(h)
        assert.matches("node name", err)
    end)

    it("logs when a node that started without Redis connects later", function()
        local late = R.Redis.new()
        late.port = R.free_port()
        late.url = ("redis://127.0.0.1:%d/0"):format(late.port)
        local lines = {}
        local h = assert(sb.hub{ redis = late.url, node = "late", redis_log = R.quiet_log(lines) })
        fx.later(function() h:leave_cluster() end)
        assert.is_true(wait_until(function() return #lines > 0 end, 5))
        assert.matches("cannot reach Redis", lines[1])
        late:launch()
        local ok, err = pcall(function()
            assert.is_true(wait_until(function() return h:cluster_stats().connected end, 10))
            assert.is_true(wait_until(function()
                return lines[#lines]:find("connected to " .. late.url, 1, true) ~= nil
            end, 2), table.concat(lines, "\n"))
            assert.matches("node late connected to", lines[#lines])
        end)
        late:stop()
        assert(ok, err)
    end)

    it("logs when two processes share a node name", function()
        local a, b = hub("twin", 0.4), hub("twin", 0.4)
        assert.is_true(both_connected(a, b))
        assert.is_true(wait_until(function()
            return table.concat(logs, "\n"):find("also uses node name twin", 1, true) ~= nil
        end, 3))
    end)

    it("delivers a publish on node A to subscribers on node B once, and not twice on A", function()
        local a, b = hub("pub-a"), hub("pub-b")
        assert.is_true(both_connected(a, b))
        local got_a, got_b = {}, {}
        local ca = a:attach(function(_, ev, p, info) got_a[#got_a + 1] = { ev, p, info } end)
        local cb = b:attach(function(_, ev, p, info) got_b[#got_b + 1] = { ev, p, info } end)
        assert(a:join("news", "ann", ca))
        assert(b:join("news", "bob", cb))
        assert.is_true(wait_until(function() return a:member_count("news") == 2 end))
        assert.equal(3, a:publish("news", "headline", { n = 1 }, { from = "ann", alias = "Ann" }) + 2)
        assert.is_true(wait_until(function() return #got_b == 1 end))
        assert.same("headline", got_b[1][1])
        assert.same({ n = 1 }, got_b[1][2])
        assert.same("ann", got_b[1][3].from)
        assert.same("Ann", got_b[1][3].alias)
        settle(0.1)
        assert.equal(1, #got_a)
        assert.equal(1, #got_b)
        assert.equal(1, a:cluster_stats().published)
        assert.equal(1, b:cluster_stats().received)
    end)

    it("keeps per-publisher order across nodes", function()
        local a, b = hub("ord-a"), hub("ord-b")
        assert.is_true(both_connected(a, b))
        local got = {}
        local cb = b:attach(function(_, _, p) got[#got + 1] = p end)
        assert(b:join("seq", "bob", cb))
        settle(0.2)
        for i = 1, 50 do
            a:publish("seq", "n", i)
        end
        assert.is_true(wait_until(function() return #got == 50 end))
        for i = 1, 50 do
            assert.equal(i, got[i])
        end
    end)

    it("subscribes only to channels with local members", function()
        local a, b = hub("sub-a"), hub("sub-b")
        assert.is_true(both_connected(a, b))
        local cb = b:attach(function() end)
        assert(b:join("one", "bob", cb))
        assert.is_true(wait_until(function() return b:cluster_stats().channels == 1 end))
        assert.equal(0, a:cluster_stats().channels)
        b:leave("one", "bob", cb)
        assert.is_true(wait_until(function() return b:cluster_stats().channels == 0 end))
    end)

    it("counts presence cluster-wide and fires join/leave only at the cluster edges", function()
        local a, b = hub("pres-a"), hub("pres-b")
        assert.is_true(both_connected(a, b))
        local log = {}
        events(a, log, "A")
        events(b, log, "B")
        local a1, a2 = a:attach(function() end), a:attach(function() end)
        local b1 = b:attach(function() end)
        assert(a:join("room", "ann", a1))
        assert(b:join("room", "bob", b1))
        assert.is_true(wait_until(function()
            return a:member_count("room") == 2 and b:member_count("room") == 2
        end))
        assert.same({ "ann", "bob" }, a:presence("room"))
        assert.same({ "ann", "bob" }, b:presence("room"))
        assert.is_true(b:is_present("room", "ann"))
        -- a member with connections on both nodes
        assert.is_false(a:join("room", "bob", a2)) -- present already (on B)
        settle(0.2)
        assert.equal(2, b:member_count("room"))
        b:leave("room", "bob", b1)
        settle(0.3)
        assert.is_true(a:is_present("room", "bob"))
        assert.equal(0, count(log, "A presence:leave room bob"))
        a:leave("room", "bob", a2)
        assert.is_true(wait_until(function() return not a:is_present("room", "bob") end))
        assert.equal(1, count(log, "A presence:leave room bob"))
        assert.equal(1, count(log, "A presence:join room bob"))
        assert.equal(1, count(log, "B presence:join room ann"))
    end)

    it("moves a member from node A to node B without a flicker (connect, then replace)", function()
        local a, b, c = hub("mv-a"), hub("mv-b"), hub("mv-c")
        assert.is_true(both_connected(a, b, c))
        local log = {}
        local watcher = c:attach(function() end)
        assert(c:join("lobby", "watcher", watcher))
        events(c, log, "C")
        settle(0.2)
        local old = a:attach(function() end)
        assert(a:join("lobby", "ann", old))
        assert.is_true(wait_until(function() return c:is_present("lobby", "ann") end))
        local new = b:attach(function() end)
        -- (B does not follow the lobby until this join, so it cannot know
        -- yet that ann is present on A: only C's view is checked)
        assert(b:join("lobby", "ann", new) ~= nil)
        settle(0.3)
        old:close()
        settle(0.5)
        assert.is_true(c:is_present("lobby", "ann"))
        assert.same({ "C presence:join lobby ann" }, log)
        new:close()
        assert.is_true(wait_until(function() return not c:is_present("lobby", "ann") end))
        assert.same({ "C presence:join lobby ann", "C presence:leave lobby ann" }, log)
    end)

    it("drops a node's members at once when it leaves the cluster", function()
        local a, b = hub("bye-a"), hub("bye-b")
        assert.is_true(both_connected(a, b))
        local ca, cb = a:attach(function() end), b:attach(function() end)
        assert(a:join("r", "ann", ca))
        assert(b:join("r", "bob", cb))
        assert.is_true(wait_until(function() return a:member_count("r") == 2 end))
        b:leave_cluster()
        assert.is_true(wait_until(function() return a:member_count("r") == 1 end, 1))
    end)

    it("sees the members of a SIGKILLed node leave within the TTL", function()
        local ttl = 1.5
        local a = hub("kill-a", ttl)
        assert.is_true(both_connected(a))
        local log = {}
        events(a, log, "A")
        local ca = a:attach(function() end)
        assert(a:join("k", "ann", ca))
        local pid, kill = R.spawn_node(redis.url, "kill-child", ttl, "k", "carol")
        assert.matches("^%d+$", pid)
        local ok = wait_until(function() return a:is_present("k", "carol") end, 10)
        if not ok then
            kill()
        end
        assert.is_true(ok)
        local t0 = socket.gettime()
        kill()
        assert.is_true(wait_until(function() return not a:is_present("k", "carol") end, ttl + 1))
        local took = socket.gettime() - t0
        assert.is_true(took <= ttl + 0.1, ("left after %.2f s, TTL %.2f s"):format(took, ttl))
        assert.equal(1, count(log, "A presence:leave k carol"))
        assert.equal(1, a:cluster_stats().dead_nodes)
    end)

    it("follows a channel again at the cluster's position, numbered by Redis", function()
        local a = fx.hub("hist-a", { history = 10 })
        local b = fx.hub("hist-b", { history = 10 })
        assert.is_true(both_connected(a, b))
        local got = {}
        local ca = a:attach(function(_, _, p, info) got[#got + 1] = { p, info.epoch, info.offset } end)
        assert(a:join("h", "ann", ca))
        settle(0.2)
        b:publish("h", "m", 1)
        assert.is_true(wait_until(function() return select(2, a:position("h")) == 1 end))
        local epoch = a:position("h")
        assert.same({ { 1, epoch, 1 } }, got)
        a:leave("h", "ann", ca)        -- a stops following h
        b:publish("h", "m", 2)         -- so this one never reaches a
        settle(0.2)
        assert(a:join("h", "ann", ca))
        -- the baseline read puts a at the shared position: same epoch
        assert.is_true(wait_until(function() return select(2, a:position("h")) == 2 end))
        assert.equal(epoch, (a:position("h")))
        b:publish("h", "m", 3)
        assert.is_true(wait_until(function() return #got == 2 end))
        assert.same({ 3, epoch, 3 }, got[2])
        local replayed = {}
        assert.equal(1, a:replay("h", epoch, 2, function(_, _, p) replayed[#replayed + 1] = p end))
        assert.same({ 3 }, replayed)
    end)

    it("keeps local fan-out through a Redis restart, counts what was lost, and resumes", function()
        local a, b = hub("out-a"), hub("out-b")
        assert.is_true(both_connected(a, b))
        local got_a, got_b = {}, {}
        local ca = a:attach(function(_, _, p) got_a[#got_a + 1] = p end)
        local ca2 = a:attach(function() end)
        local cb = b:attach(function(_, _, p) got_b[#got_b + 1] = p end)
        assert(a:join("o", "ann", ca))
        assert(b:join("o", "bob", cb))
        assert.is_true(wait_until(function() return b:member_count("o") == 2 end))
        local n0 = #logs
        redis:kill()
        assert.is_true(wait_until(function() return not a:cluster_stats().connected end))
        assert(a:join("o", "amy", ca2)) -- presence change during the outage
        a:publish("o", "message", "during")
        assert.same({ "during" }, got_a)
        assert.equal(1, a:cluster_stats().lost)
        assert.equal(1, a:cluster_stats().outages)
        assert.is_true(#logs > n0, "the outage was not logged")
        redis:launch()
        assert.is_true(both_connected(a, b))
        assert.is_true(wait_until(function() return b:is_present("o", "amy") end, 5))
        assert.is_true(b:is_present("o", "ann"))
        assert.is_true(wait_until(function()
            a:publish("o", "message", "after")
            settle(0.1)
            return got_b[#got_b] == "after"
        end, 5))
        assert.is_nil(next(got_b) and nil)
        for _, p in ipairs(got_b) do
            assert.are_not.equal("during", p)
        end
        assert.matches("reconnected", logs[#logs] .. table.concat(logs, "\n"))
    end)

    -- Random joins and leaves on three nodes (optionally with Redis killed
    -- and restarted midway); afterwards every node following a channel
    -- must list exactly the members joined anywhere.
    local function churn(seed, restart)
        math.randomseed(seed)
        local hubs, conns = {}, {}
        for i = 1, 3 do
            hubs[i] = hub(("churn%d-%d"):format(i, seed))
            conns[i] = {}
            for j = 1, 6 do
                conns[i][j] = { c = hubs[i]:attach(function() end), joined = {} }
            end
        end
        assert.is_true(both_connected(hubs[1], hubs[2], hubs[3]))
        local chans, members = { "c1", "c2", "c3" }, { "m1", "m2", "m3", "m4" }
        for step = 1, 500 do
            local i = math.random(3)
            local x = conns[i][math.random(6)]
            local ch = chans[math.random(#chans)]
            if x.joined[ch] then
                hubs[i]:leave(ch, x.joined[ch], x.c)
                x.joined[ch] = nil
            else
                local m = members[math.random(#members)]
                if hubs[i]:join(ch, m, x.c) ~= nil then
                    x.joined[ch] = m
                end
            end
            if math.random() < 0.1 then
                sb.step(0)
            end
            if restart and step == 200 then
                redis:kill()
            elseif restart and step == 350 then
                redis:launch()
            end
        end
        assert.is_true(both_connected(hubs[1], hubs[2], hubs[3]))
        local function expected(ch)
            local set, list = {}, {}
            for i = 1, 3 do
                for j = 1, 6 do
                    local m = conns[i][j].joined[ch]
                    if m and not set[m] then
                        set[m] = true
                        list[#list + 1] = m
                    end
                end
            end
            table.sort(list)
            return list
        end
        local mismatch
        local function converged()
            for _, ch in ipairs(chans) do
                local want = table.concat(expected(ch), ",")
                for i = 1, 3 do
                    local followed = false
                    for j = 1, 6 do
                        followed = followed or conns[i][j].joined[ch] ~= nil
                    end
                    local got = table.concat(hubs[i]:presence(ch), ",")
                    if followed and got ~= want then
                        mismatch = ("%s on node %d: %s, want %s"):format(ch, i, got, want)
                        return false
                    end
                end
            end
            return true
        end
        assert.is_true(wait_until(converged, 5), mismatch)
    end

    it("converges on the same presence everywhere after churn", function()
        churn(7)
    end)

    it("converges after churn across a Redis restart", function()
        churn(8, true)
    end)

    describe("servers", function()
        local listen = fx.listen

        it("relays a native client's message to native clients on the other node", function()
            local s1, s2 = listen("srv-a"), listen("srv-b")
            assert.is_true(both_connected(s1.hub, s2.hub))
            assert.equal("srv-a", s1:cluster_stats().node)
            assert.equal("srv-a", s1.node)
            local x = raw(s1:url("/c/chat?as=xena&echo=true"))
            local y = raw(s2:url("/c/chat?as=yuri"))
            x:wait_frames(1)
            y:wait_frames(1)
            assert.is_true(wait_until(function() return s2.hub:member_count("chat") == 2 end))
            x:send('{"text":"hi from A"}')
            local msgs = function(r)
                local out = {}
                for _, f in ipairs(r.frames) do
                    if type(f) == "table" and f.message then
                        out[#out + 1] = f
                    end
                end
                return out
            end
            assert.is_true(wait_until(function() return #msgs(y) == 1 end))
            local m = msgs(y)[1]
            assert.same({ text = "hi from A" }, m.message)
            assert.same("xena", m.alias)
            y:send('{"text":"hi from B"}')
            assert.is_true(wait_until(function() return #msgs(x) == 2 end))
            settle(0.1)
            assert.equal(2, #msgs(x)) -- its own echo once, plus yuri's
            assert.equal(1, #msgs(y))
            x:close()
            y:close()
        end)

        it("reaches a hub listener on the other node with server.hub:publish", function()
            local s1, s2 = listen("srvp-a"), listen("srvp-b")
            assert.is_true(both_connected(s1.hub, s2.hub))
            local y = raw(s2:url("/c/alerts"))
            y:wait_frames(1)
            settle(0.2)
            s1.hub:publish("alerts", "alert", { level = 2 })
            assert.is_true(wait_until(function() return #y:of_type("alert") == 1 end))
            assert.same({ level = 2 }, y:of_type("alert")[1].message)
            y:close()
        end)

        it("names a node itself when no name is given", function()
            local s = listen(nil)
            assert.matches("^[%w_.:-]+%-%x+$", s.node)
            assert.is_true(both_connected(s.hub))
        end)

        it("joins Phoenix clients on one node and native clients on the other", function()
            local H = require "phx_helper"
            local s1, s2 = listen("phx-a"), listen("phx-b")
            for _, s in ipairs { s1, s2 } do
                s:channel("room:*", {
                    join = function() return {} end,
                    on = { new_msg = function(_, topic, payload)
                        s.hub:publish(topic, "new_msg", payload)
                        return {}
                    end },
                })
            end
            assert.is_true(both_connected(s1.hub, s2.hub))
            local p = H.open(s1.port)
            p:send('["1","1","room:x","phx_join",{}]')
            assert.truthy(p:frame(2))
            local n = raw(s2:url("/c/room:x?alias=Nat"))
            n:wait_frames(1)
            assert.is_true(wait_until(function() return s1.hub:member_count("room:x") == 2 end))
            n:send('{"text":"from native on B"}')
            local msg = support.wait_for(function()
                return p:find(function(m) return m[4] == "message" end)
            end)
            assert.truthy(msg)
            local got = msg[5]
            assert.equal("Nat", got.alias)
            assert.same({ text = "from native on B" }, got.message)
            p:send('["1","2","room:x","new_msg",{"body":"from phoenix on A"}]')
            assert.is_true(wait_until(function() return #n:of_type("new_msg") == 1 end))
            assert.same({ body = "from phoenix on A" }, n:of_type("new_msg")[1].message)
            p:close()
            n:close()
        end)

        it("streams to an SSE client on one node what a native client sends on the other", function()
            local http = require "http_helper"
            local cjson = require "cjson"
            local s1, s2 = listen("sse-a"), listen("sse-b")
            assert.is_true(both_connected(s1.hub, s2.hub))
            local c = http.open(s2.port, "GET", "/sse/feed", { Accept = "text/event-stream" })
            assert.is_true(c:wait(function(x) return #x:events() >= 1 end))
            local n = raw(s1:url("/c/feed?alias=Nat"))
            n:wait_frames(1)
            -- counts cover the cluster: the stream on B and the socket on A
            assert.is_true(wait_until(function() return s1.hub:connection_count("feed") == 2
                and s1.hub:member_count("feed") == 2 end))
            n:send('{"text":"to sse on B"}')
            assert.is_true(c:wait(function(x) return #x:messages() >= 1 end))
            local m = c:messages()[1]
            assert.equal("message", m.event)
            assert.same({ text = "to sse on B" }, cjson.decode(m.data))
            c:close()
            n:close()
        end)
    end)
end)
