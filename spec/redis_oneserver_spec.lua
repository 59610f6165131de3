-- A cluster looks like ONE server to native WebSocket clients
-- (docs/protocols.md, "Join and leave frames"): join and leave frames
-- cross nodes, their `users`/`total` count every node's connections, and
-- the hub's presence API agrees on every node, through a member on two
-- nodes, a node killed with SIGKILL, a node restarted under the same name
-- and a Redis restart.  Two or three servers in this process (the one to
-- kill in a child process, spec/redis_relay_node.lua) and a real
-- redis-server on a free loopback port.
local sb = require "switchboard"
local support = require "support"
local http = require "http_helper"
local R = require "redis_helper"

local wait_until, wait_for, settle, raw = support.wait_until, support.wait_for, support.settle, support.raw

-- Short, so that a killed node is declared dead quickly.
local TTL = 0.8
-- How long a frame may take to cross nodes (Redis on loopback: milliseconds).
local CROSS = 2

if not R.have_redis() then
    describe("a cluster as one server", function()
        pending("redis-server is not installed")
    end)
    return
end

-- What client `c` received, one frame a line, for failure messages.
local function dump(c)
    local texts = #c.texts > 0 and table.concat(c.texts, "\n    ") or "(nothing)"
    return ("%s received:\n    %s"):format(c.name, texts)
end

-- Frames of type `kind` other than the client's own join, in order.
local function seen(c, kind)
    local out = {}
    for _, f in ipairs(c.frames) do
        if type(f) == "table" and f.type == kind and not f.self then
            out[#out + 1] = f
        end
    end
    return out
end

-- The `users` of each frame in `frames`.
local function users_of(frames)
    local out = {}
    for i, f in ipairs(frames) do
        out[i] = f.users
    end
    return out
end

-- Waits (at most `timeout` s, default CROSS) for a frame of `c` that
-- `pred` accepts and returns it; fails naming `what` and listing what `c`
-- received instead.
local function await(c, what, pred, timeout)
    local f = wait_for(function()
        for _, x in ipairs(c.frames) do
            if type(x) == "table" and pred(x) then
                return x
            end
        end
    end, timeout or CROSS)
    assert.is_truthy(f, ("%s never arrived; %s"):format(what, dump(c)))
    return f
end

local function other_join(pred)
    return function(f)
        return f.type == "join" and not f.self and pred(f)
    end
end

local function sorted(list)
    local out = {}
    for i, x in ipairs(list) do
        out[i] = x
    end
    table.sort(out)
    return out
end

-- What the hubs of `nodes` say about `channel`, one line a node.
local function hub_view(nodes, channel)
    local lines = {}
    for _, s in ipairs(nodes) do
        local h = s.hub
        lines[#lines + 1] = ("  %s: connection_count %d, member_count %d, presence {%s}"):format(
            s.name, h:connection_count(channel), h:member_count(channel),
            table.concat(h:presence(channel), ","))
    end
    return table.concat(lines, "\n")
end

-- Whether every hub of `nodes` counts `conns` connections and exactly the
-- members `members` in `channel`.
local function hubs_agree(nodes, channel, conns, members)
    local want = table.concat(sorted(members), ",")
    for _, s in ipairs(nodes) do
        local h = s.hub
        if h:connection_count(channel) ~= conns or h:member_count(channel) ~= #members
            or table.concat(h:presence(channel), ",") ~= want then
            return false
        end
        for _, m in ipairs(members) do
            if not h:is_present(channel, m) then
                return false
            end
        end
    end
    return true
end

-- Waits until the hubs agree with the truth; fails showing what each says.
local function assert_hubs(nodes, channel, conns, members, timeout)
    local ok = wait_until(function() return hubs_agree(nodes, channel, conns, members) end, timeout or CROSS)
    assert.is_true(ok, ("the hubs disagree with the truth on %s (%d connections, members {%s}):\n%s")
        :format(channel, conns, table.concat(sorted(members), ","), hub_view(nodes, channel)))
end

-- Waits until every hub of `nodes` has exactly `members` present in
-- `channel` (membership only: what the cluster already shares today).
local function await_presence(nodes, channel, members, timeout)
    local want = table.concat(sorted(members), ",")
    local ok = wait_until(function()
        for _, s in ipairs(nodes) do
            if table.concat(s.hub:presence(channel), ",") ~= want then
                return false
            end
        end
        return true
    end, timeout or 5)
    assert.is_true(ok, ("presence of %s never became {%s}:\n%s"):format(channel, want, hub_view(nodes, channel)))
end

-- Waits until every node counts `conns` connections in `channel`: a node
-- hears of another node's join within one Redis round trip (the
-- documented delay), and what a new joiner is told is what its node knows.
local function known(nodes, channel, conns)
    local ok = wait_until(function()
        for _, s in ipairs(nodes) do
            if s.hub:connection_count(channel) ~= conns then
                return false
            end
        end
        return true
    end, CROSS)
    assert.is_true(ok, ("the nodes never all counted %d connections in %s:\n%s")
        :format(conns, channel, hub_view(nodes, channel)))
end

-- Appends "presence:join CHANNEL MEMBER" lines to `log` for `hub`.
local function record(hub, log)
    for _, ev in ipairs { "presence:join", "presence:leave" } do
        hub:on(ev, function(ch, member) log[#log + 1] = ("%s %s %s"):format(ev, ch, member) end)
    end
    return log
end

local function metas(p, key)
    local e = p.state[key]
    return e and #e.metas or 0
end

describe("a cluster as one server", function()
    local fx = R.fixture()
    local redis = fx.redis

    setup(fx.start)
    teardown(fx.stop)
    after_each(fx.close_all)

    -- A server as node `name`: the member id of a connection is its
    -- ?user= (else its uid), a Phoenix join on phx:* tracks params.user,
    -- the same rules as spec/redis_relay_node.lua's.
    local function node(name)
        local s = fx.listen(name, { node_ttl = TTL })
        s.name = "node " .. name
        s:on("connect", function(conn, req) conn.member = req.query.user end)
        s:channel("phx:*", {
            join = function(conn, topic, params)
                if params.user then
                    s.hub:track(conn, topic, params.user, { node = name })
                end
                return {}
            end,
        })
        return s
    end

    local function nodes(...)
        local list = {}
        for i, name in ipairs { ... } do
            list[i] = node(name)
        end
        local hubs = {}
        for i, s in ipairs(list) do
            hubs[i] = s.hub
        end
        assert.is_true(R.connected((table.unpack or unpack)(hubs)), "a node never connected to Redis")
        return (table.unpack or unpack)(list)
    end

    -- spec/redis_relay_node.lua as node `name` on a free port in a process
    -- of its own, once it listens: { port, name, kill } (kill: SIGKILL).
    local function child(name)
        local port = R.free_port()
        local c = { port = port, name = "node " .. name .. " (child process)" }
        c.kill = assert(R.spawn_relay(redis.url, name, TTL, port))
        fx.later(c.kill)
        return c
    end

    -- A raw native client of `where` (a node or a child) on `channel` with
    -- the URL options `query`, called `name` in failure messages; opened
    -- without waiting for anything.
    local function open(where, channel, query, name)
        local c = raw(("ws://127.0.0.1:%d/c/%s%s"):format(where.port, channel, query and ("?" .. query) or ""))
        c.name = ("%s (on %s)"):format(name, where.name)
        fx.later(function()
            if not c.closed then
                c:close()
            end
        end)
        return c
    end

    -- The client's own join; notes its uid in c.uid.
    local function own_join(c, timeout)
        local f = await(c, c.name .. "'s own join", function(x) return x.type == "join" and x.self end, timeout or 5)
        c.uid = f.uid
        return f
    end

    -- open, then its own join: the client and that join.
    local function native(where, channel, query, name)
        local c = open(where, channel, query, name)
        return c, own_join(c)
    end

    local function phoenix(where, topic, user)
        local sock = sb.phoenix.socket(("ws://127.0.0.1:%d/socket"):format(where.port), {})
        fx.later(function() sock:disconnect() end)
        sock:connect()
        local ch = sock:channel(topic, { user = user })
        local p = sb.phoenix.presence(ch)
        ch:join()
        return p
    end

    it("counts every node's connections in join frames and announces joins across nodes", function()
        local a, b, c = nodes("one-a", "one-b", "one-c")
        local alice, aj = native(a, "room", "alias=alice&announce=true", "alice")
        assert.same({ users = 1, total = 1 }, { users = aj.users, total = aj.total })

        known({ a, b, c }, "room", 1)
        local bob, bj = native(b, "room", "alias=bob&announce=true", "bob")
        assert.same({ users = 2, total = 2 }, { users = bj.users, total = bj.total },
            "bob's own join on node B must count alice on node A")
        local j = await(alice, "alice's join frame for bob (node B)",
            other_join(function(f) return f.uid == bob.uid end))
        assert.same({ users = 2, total = 2, uid = bob.uid, alias = "bob" },
            { users = j.users, total = j.total, uid = j.uid, alias = j.alias })

        -- not announced: the others get the count, no uid
        known({ a, b, c }, "room", 2)
        local carol, cj = native(c, "room", nil, "carol")
        assert.same({ users = 3, total = 3 }, { users = cj.users, total = cj.total },
            "carol's own join on node C must count alice (A) and bob (B)")
        for _, x in ipairs { alice, bob } do
            local f = await(x, x.name .. "'s join frame for carol (node C)",
                other_join(function(g) return g.users == 3 end))
            assert.equal(3, f.total)
            assert.is_nil(f.uid, "carol did not announce herself")
        end

        -- list=true on node B: the announced members of every node, and itself
        known({ a, b, c }, "room", 3)
        local dave, dj = native(b, "room", "alias=dave&list=true", "dave")
        assert.is_table(dj.users, "dave asked for the list: " .. dump(dave))
        local list = {}
        for i, u in ipairs(dj.users) do
            list[i] = u
        end
        table.sort(list, function(x, y) return x.uid < y.uid end)
        local want = {
            { uid = alice.uid, alias = "alice" },
            { uid = bob.uid, alias = "bob" },
            { uid = dave.uid, alias = "dave", self = true },
        }
        table.sort(want, function(x, y) return x.uid < y.uid end)
        assert.same(want, list, "dave's list (node B) must hold alice (A), bob (B) and himself")
        assert.equal(4, dj.total)
        for _, x in ipairs { alice, bob, carol } do
            await(x, x.name .. "'s join frame for dave", other_join(function(f) return f.users == 4 end))
        end

        -- one join frame per joiner, nothing twice
        settle(0.2)
        assert.same({ 2, 3, 4 }, users_of(seen(alice, "join")), dump(alice))
        assert.same({ 3, 4 }, users_of(seen(bob, "join")), dump(bob))
        assert.same({ 4 }, users_of(seen(carol, "join")), dump(carol))
        assert.same({}, seen(dave, "join"), dump(dave))
    end)

    it("gives each join frame and each hub the cluster-wide count (2 + 1 + 2 connections)", function()
        local a, b, c = nodes("cnt-a", "cnt-b", "cnt-c")
        local clients, uids = {}, {}
        for i, s in ipairs { a, b, c, a, c } do
            known({ a, b, c }, "count", i - 1)
            local x, own = native(s, "count", nil, "client " .. i)
            assert.equal(i, own.users, ("%s's own join: users must count all %d connections; %s")
                :format(x.name, i, dump(x)))
            assert.equal(i, own.total)
            for k = 1, i - 1 do
                await(clients[k], ("%s's join frame with users=%d for %s"):format(clients[k].name, i, x.name),
                    other_join(function(f) return f.users == i end))
            end
            clients[i], uids[i] = x, x.uid
        end
        settle(0.2)
        for k, x in ipairs(clients) do
            local want = {}
            for n = k + 1, 5 do
                want[#want + 1] = n
            end
            assert.same(want, users_of(seen(x, "join")), dump(x))
        end
        assert_hubs({ a, b, c }, "count", 5, uids)
    end)

    it("answers hub queries for the cluster on a node with no connection in the channel", function()
        local a, b, c = nodes("q-a", "q-b", "q-c")
        native(a, "quiet", "user=ann", "ann")
        native(a, "quiet", "user=amy", "amy")
        native(b, "quiet", "user=bob", "bob")
        -- node C has no connection in "quiet", yet knows it like the others
        assert_hubs({ a, b, c }, "quiet", 3, { "ann", "amy", "bob" })
        local function listed(s)
            for _, ch in ipairs(s.hub:channels()) do
                if ch.name == "quiet" then
                    return ch
                end
            end
        end
        assert.same({ name = "quiet", members = 3, connections = 3 }, listed(c))
        assert.is_false(c.hub:is_present("quiet", "nobody"))
        for _, s in ipairs { a, b, c } do
            assert.same({ ["q-a"] = 2, ["q-b"] = 1 }, s.hub:cluster_stats().by_channel.quiet,
                "by_channel on " .. s.name)
        end
    end)

    it("sends a leave frame across nodes with the new count and the leaver's uid and alias", function()
        local a, b, c = nodes("lv-a", "lv-b", "lv-c")
        local alice = native(a, "room", "alias=alice&announce=true", "alice")
        local bob = native(b, "room", "alias=bob&announce=true", "bob")
        local carol = native(c, "room", "alias=carol&announce=true", "carol")
        await_presence({ a, b, c }, "room", { alice.uid, bob.uid, carol.uid })
        bob:close()
        for _, x in ipairs { alice, carol } do
            local f = await(x, x.name .. "'s leave frame for bob (node B)",
                function(f) return f.type == "leave" and f.uid == bob.uid end)
            assert.same({ users = 2, total = 2, uid = bob.uid, alias = "bob" },
                { users = f.users, total = f.total, uid = f.uid, alias = f.alias })
        end
        assert_hubs({ a, c }, "room", 2, { alice.uid, carol.uid })
        settle(0.2)
        assert.equal(1, #seen(alice, "leave"), dump(alice))
        assert.equal(1, #seen(carol, "leave"), dump(carol))
    end)

    it("keeps a member on two nodes present when one of its connections closes", function()
        local a, b, c = nodes("duo-a", "duo-b", "duo-c")
        local log = {}
        for _, s in ipairs { a, b, c } do
            record(s.hub, log)
        end
        local alice = native(a, "duo", "user=alice&alias=alice&announce=true", "alice")
        local erin = native(b, "duo", nil, "erin") -- keeps node B following duo
        local dan_b = native(b, "duo", "user=dan&alias=dan&announce=true", "dan")
        local dan_c = native(c, "duo", "user=dan&alias=dan&announce=true", "dan")
        local members = { "alice", "dan", erin.uid }
        await_presence({ a, b, c }, "duo", members)
        settle(0.1)
        local n0 = #log
        dan_b:close()
        for _, x in ipairs { alice, erin, dan_c } do
            local f = await(x, x.name .. "'s leave frame for dan's connection on node B",
                function(f) return f.type == "leave" and f.uid == dan_b.uid end)
            assert.same({ users = 3, total = 3, alias = "dan" }, { users = f.users, total = f.total, alias = f.alias },
                x.name .. ": one connection left of four")
        end
        assert_hubs({ a, b, c }, "duo", 3, members)
        settle(0.3)
        for _, s in ipairs { a, b, c } do
            assert.is_true(s.hub:is_present("duo", "dan"), s.name .. " lost dan, who is still on node C")
        end
        local after = {}
        for i = n0 + 1, #log do
            after[#after + 1] = log[i]
        end
        assert.same({}, after, "dan stays present: no presence event on any node")
        assert.equal(1, #seen(alice, "leave"), dump(alice))
    end)

    it("shows a joiner on another node joining before its first message", function()
        local a, b = nodes("ord-a", "ord-b")
        local alice = native(a, "order", "alias=alice", "alice")
        -- node A hears the channel from Redis (its subscription is live)
        -- before bob comes: what is checked is the order, not that race
        assert.is_true(wait_until(function()
            b.hub:publish("order", "probe", {})
            settle(0.05)
            return #alice:of_type("probe") > 0
        end), "node A never heard a publish of node B on the channel")
        -- the Lua client queues the message and sends it as soon as it is open
        local bob = sb.connect(("ws://127.0.0.1:%d/c/order"):format(b.port), { alias = "bob", announce = true })
        fx.later(function() bob:close() end)
        bob:send({ text = "first" })
        await(alice, "bob's message", function(f) return f.type == nil and f.alias == "bob" end)
        local join_at, msg_at
        for i, f in ipairs(alice.frames) do
            if type(f) == "table" and f.alias == "bob" then
                if f.type == "join" and not join_at then
                    join_at = i
                elseif f.type == nil and not msg_at then
                    msg_at = i
                end
            end
        end
        assert.is_truthy(join_at, "no join frame for bob at all; " .. dump(alice))
        assert.is_true(join_at < msg_at, "bob's message came before his join; " .. dump(alice))
        assert.same({ 2, 2 }, { alice.frames[join_at].users, alice.frames[join_at].total })
        assert.same({ text = "first" }, alice.frames[msg_at].message)
    end)

    it("delivers an answer to a join: a node is subscribed before others hear of its joiner", function()
        local a, b = nodes("ans-a", "ans-b")
        local bob = native(b, "ans", "alias=bob", "bob")
        -- bob answers every join he hears, at once
        local alice = open(a, "ans", "alias=alice&announce=true", "alice")
        local answered = false
        assert.is_true(wait_until(function()
            if not answered then
                for _, f in ipairs(bob.frames) do
                    if type(f) == "table" and f.type == "join" and f.alias == "alice" then
                        bob:send('{"text":"welcome"}')
                        answered = true
                    end
                end
            end
            for _, f in ipairs(alice.frames) do
                if type(f) == "table" and f.alias == "bob" and f.type == nil then
                    return true
                end
            end
            return false
        end, CROSS), "alice never got bob's answer to her join: " .. dump(alice) .. dump(bob))
    end)

    it("tells the chat example's SSE clients on the survivor that a SIGKILLed node's users left", function()
        local cjson = require "cjson"
        local chat = require "examples.chat"
        local S = assert(chat.start({ port = 0, bot = false, redis = redis.url, node = "chat-s",
            node_ttl = TTL }))
        fx.later(function() S.close() end)
        assert.is_true(R.connected(S.hub))
        local port = R.free_port()
        -- (the command line takes whole seconds)
        local p = assert(io.popen(("echo $$; exec %s examples/chat.lua --port %d --redis %s --node chat-d --node-ttl 1")
            :format(support.LUA, port, redis.url)))
        local pid = p:read("*l")
        local killed = false
        local function kill()
            if not killed then
                killed = true
                os.execute("kill -9 " .. pid)
                p:close()
            end
        end
        fx.later(kill)
        local d = { port = port, name = "chat node D (child process)" }
        assert.is_true(wait_until(function()
            local st = S.hub:cluster_stats()
            return st.nodes >= 1
        end, 10), "the chat child never joined the cluster")
        assert.is_true(wait_until(function()
            local ok = pcall(function()
                local c = open(d, "room:lobby", "alias=dora&announce=true", "dora")
                c:wait_frames(1)
            end)
            return ok
        end, 10), "could not reach the chat child")
        local stream = http.open(S.port, "GET", "/sse/room:lobby?user=viewer", { Accept = "text/event-stream" })
        fx.later(function() stream:close() end)
        local function last_users()
            local users
            for _, ev in ipairs(stream:messages()) do
                if ev.event == "presence" then
                    local ok, v = pcall(cjson.decode, ev.data)
                    if ok and type(v) == "table" then
                        users = v.users or (v.message and v.message.users) or users
                    end
                end
            end
            return users
        end
        local function has(users, name)
            for _, u in ipairs(users or {}) do
                if u == name or (type(u) == "table" and (u.alias == name or u.name == name or u.user == name)) then
                    return true
                end
            end
            return false
        end
        assert.is_true(stream:wait(function() return has(last_users(), "dora") end, 5),
            "the SSE client never saw dora (node D) present: " .. stream.body)
        kill()
        assert.is_true(stream:wait(function()
            local u = last_users()
            return u and not has(u, "dora")
        end, 1 + 2), "the SSE client on the survivor still lists dora after node D died: " .. stream.body)
    end)

    describe("a node killed with SIGKILL", function()
        it("sends the survivor's native clients one leave frame per lost connection within the TTL", function()
            local s = nodes("kill-s")
            local w1 = native(s, "k1", "user=w1&alias=w1", "w1")
            local w2 = native(s, "k2", "user=w2&alias=w2", "w2")
            local d = child("kill-d")
            local m1 = native(d, "k1", "user=m1&alias=m1&announce=true", "m1")
            local m2 = native(d, "k1", "user=m2&alias=m2&announce=true", "m2")
            local m3 = native(d, "k2", "user=m3&alias=m3&announce=true", "m3")
            await_presence({ s }, "k1", { "w1", "m1", "m2" })
            await_presence({ s }, "k2", { "w2", "m3" })
            local t0 = sb.now_ms()
            d.kill()
            local ok = wait_until(function() return #seen(w1, "leave") >= 2 and #seen(w2, "leave") >= 1 end, TTL + 1)
            local took = (sb.now_ms() - t0) / 1000
            assert.is_true(ok, ("no leave frames within TTL + 1 s (TTL %.1f s) for m1, m2 (k1) and m3 (k2); %s\n%s")
                :format(TTL, dump(w1), dump(w2)))
            assert.is_true(took <= TTL + 0.5, ("the leaves came %.2f s after the kill, TTL %.1f s"):format(took, TTL))
            settle(0.3)
            local l1, l2 = seen(w1, "leave"), seen(w2, "leave")
            assert.equal(2, #l1, dump(w1))
            assert.same(sorted { m1.uid, m2.uid }, sorted { l1[1].uid, l1[2].uid }, dump(w1))
            assert.same({ 2, 1 }, users_of(l1), "k1 drops to w1 alone; " .. dump(w1))
            assert.equal(1, #l2, dump(w2))
            assert.same({ users = 1, total = 1, uid = m3.uid, alias = "m3" },
                { users = l2[1].users, total = l2[1].total, uid = l2[1].uid, alias = l2[1].alias })
            assert_hubs({ s }, "k1", 1, { "w1" })
            assert_hubs({ s }, "k2", 1, { "w2" })
        end)

        it("drops the dead node's members from a Phoenix client's presence on the survivor", function()
            local s = nodes("phk-s")
            local pw = phoenix(s, "phx:k", "pw")
            assert.is_true(wait_until(function() return metas(pw, "pw") == 1 end))
            local d = child("phk-d")
            phoenix(d, "phx:k", "pd")
            phoenix(d, "phx:k", "pe")
            assert.is_true(wait_until(function() return metas(pw, "pd") == 1 and metas(pw, "pe") == 1 end, 5),
                "the Phoenix client on the survivor never saw pd and pe")
            d.kill()
            assert.is_true(wait_until(function() return metas(pw, "pd") == 0 and metas(pw, "pe") == 0 end, TTL + 1),
                "pd and pe are still in the survivor's Phoenix presence")
            assert.equal(1, metas(pw, "pw"))
        end)

        -- An SSE stream gets no presence events (docs/sse.md): what it has
        -- is the hub it is a connection of.
        it("tells the survivor's hub, which an SSE stream is a connection of, that the dead members left", function()
            local s = nodes("sse-s")
            local log = record(s.hub, {})
            local stream = http.open(s.port, "GET", "/sse/k1?user=viewer", { Accept = "text/event-stream" })
            fx.later(function() stream:close() end)
            assert.is_true(stream:wait(function(x) return #x:events() >= 1 end))
            local d = child("sse-d")
            native(d, "k1", "user=m1&announce=true", "m1")
            native(d, "k1", "user=m2&announce=true", "m2")
            await_presence({ s }, "k1", { "viewer", "m1", "m2" })
            d.kill()
            local function leaves()
                local out = {}
                for _, line in ipairs(log) do
                    if line:find("^presence:leave k1 ") then
                        out[#out + 1] = line
                    end
                end
                return sorted(out)
            end
            assert.is_true(wait_until(function() return #leaves() >= 2 end, TTL + 1), table.concat(log, "\n"))
            settle(0.2)
            assert.same({ "presence:leave k1 m1", "presence:leave k1 m2" }, leaves())
            assert_hubs({ s }, "k1", 1, { "viewer" })
            stream:pump()
            assert.is_falsy(stream.closed or stream.ended, "the SSE stream on the survivor ended")
        end)

        it("does not bring the dead members back when a node restarts under the same name", function()
            local s = nodes("back-s")
            local log = record(s.hub, {})
            local w1 = native(s, "k1", "user=w1&alias=w1&announce=true", "w1")
            local d = child("back-d")
            local m1 = native(d, "k1", "user=m1&alias=m1&announce=true", "m1")
            await_presence({ s }, "k1", { "w1", "m1" })
            d.kill()
            await_presence({ s }, "k1", { "w1" }, TTL + 1)
            local n0 = #log
            local again = child("back-d") -- same name, nobody connected
            assert.is_true(wait_until(function() return s.hub:cluster_stats().nodes == 1 end, 5),
                "the survivor never heard the restarted node")
            settle(TTL) -- about four of its heartbeats
            local after = {}
            for i = n0 + 1, #log do
                after[#after + 1] = log[i]
            end
            assert.same({}, after, "no presence event on the survivor after the restart")
            assert_hubs({ s }, "k1", 1, { "w1" })
            local m1_joins, m1_leaves = 0, 0
            for _, f in ipairs(w1.frames) do
                if type(f) == "table" and f.uid == m1.uid then
                    m1_joins = m1_joins + (f.type == "join" and 1 or 0)
                    m1_leaves = m1_leaves + (f.type == "leave" and 1 or 0)
                end
            end
            assert.equal(m1_leaves, m1_joins, "w1 is shown m1 as present; " .. dump(w1))
            -- a joiner on the restarted node: w1 and itself, nobody else
            local x, xj = native(again, "k1", "alias=x&announce=true&list=true", "x")
            assert.is_table(xj.users, "x asked for the list: " .. dump(x))
            local uids = {}
            for i, u in ipairs(xj.users) do
                uids[i] = u.uid
            end
            assert.same(sorted { w1.uid, x.uid }, sorted(uids), "the list of x on the restarted node")
            assert.equal(2, xj.total)
            assert_hubs({ s }, "k1", 2, { "w1", x.uid })
        end)
    end)

    it("converges counts and presence on every node after Redis restarts in the middle of joins", function()
        local a, b, c = nodes("rr-a", "rr-b", "rr-c")
        local a1 = native(a, "rr", nil, "a1")
        local a2 = native(a, "rr", nil, "a2")
        local b1 = native(b, "rr", nil, "b1")
        await_presence({ a, b }, "rr", { a1.uid, a2.uid, b1.uid })
        fx.later(function()
            if not redis:ping() then
                redis:launch()
            end
        end)
        local b2 = native(b, "rr", nil, "b2") -- its announcement races the kill
        redis:kill()
        local c1 = open(c, "rr", nil, "c1")    -- joins while Redis is down
        a2:close()
        assert.truthy(a2:wait_closed())
        redis:launch()
        assert.is_true(R.connected(a.hub, b.hub, c.hub), "a node never reconnected to Redis")
        own_join(c1)
        local truth = { a1.uid, b1.uid, b2.uid, c1.uid }
        assert_hubs({ a, b, c }, "rr", 4, truth, 5)
        -- a joiner now: five connections, in its own join and everybody's
        local e, ej = native(c, "rr", nil, "e")
        assert.equal(5, ej.users, "e's own join; " .. dump(e))
        for _, x in ipairs { a1, b1, b2, c1 } do
            await(x, x.name .. "'s join frame for e with users=5", other_join(function(f) return f.users == 5 end))
        end
    end)
end)
