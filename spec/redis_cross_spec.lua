-- Across nodes through Redis: Phoenix presence (presence_state and
-- presence_diff), typing flags, native direct messages and the chat
-- example on two nodes, with a real redis-server on a free loopback port.
local sb = require "switchboard"
local support = require "support"
local H = require "phx_helper"
local rooms = require "phx_rooms"
local R = require "redis_helper"

local wait_until, settle, raw = support.wait_until, support.settle, support.raw

if not R.have_redis() then
    describe("across nodes through Redis", function()
        pending("redis-server is not installed")
    end)
    return
end

describe("across nodes through Redis", function()
    local fx = R.fixture()
    local redis, later = fx.redis, fx.later

    setup(fx.start)
    teardown(fx.stop)
    after_each(fx.close_all)

    describe("Phoenix presence", function()
        local function node(name)
            local s = rooms.start(fx.options(name))
            later(function() s:close() end)
            return s
        end

        local function socket(s, user, topic)
            local sock = sb.phoenix.socket(("ws://127.0.0.1:%d/socket"):format(s.port), {})
            later(function() sock:disconnect() end)
            sock:connect()
            local ch = sock:channel(topic, { user = user })
            local p = sb.phoenix.presence(ch)
            ch:join()
            return sock, p
        end

        local function metas(p, key)
            local e = p.state[key]
            return e and #e.metas or 0
        end

        it("gives a joiner on node B the metas node A tracks, and diffs both ways", function()
            local s1, s2 = node("phx-a"), node("phx-b")
            assert.is_true(R.connected(s1.hub, s2.hub))
            local _, pa = socket(s1, "ann", "room:x")
            assert.is_true(wait_until(function() return metas(pa, "ann") == 1 end))
            local _, pb = socket(s2, "bob", "room:x")
            assert.is_true(wait_until(function()
                return metas(pb, "ann") == 1 and metas(pb, "bob") == 1 and metas(pa, "bob") == 1
            end))
            -- node B follows room:x now: a joiner's presence_state is whole
            local c = H.open(s2.port)
            later(function() c.close() end)
            c:send('["9","9","room:x","phx_join",{"user":"cy"}]')
            local joined = support.wait_for(function()
                return c:find(function(m) return m[4] == "presence_state" end)
            end)
            assert.truthy(joined)
            local state = joined[5]
            assert.truthy(state.ann)
            assert.truthy(state.bob)
            assert.equal(1, #state.ann.metas)
            -- a member with connections on both nodes: one key, two metas
            local _, pa2 = socket(s2, "ann", "room:x")
            assert.is_true(wait_until(function()
                return metas(pa, "ann") == 2 and metas(pb, "ann") == 2 and metas(pa2, "ann") == 2
            end))
            -- node A goes away: its meta of ann leaves node B's clients,
            -- the tab on node B keeps ann present
            s1:close()
            assert.is_true(wait_until(function() return metas(pb, "ann") == 1 end))
            settle(0.2)
            assert.equal(1, metas(pb, "ann"))
            assert.equal(1, metas(pb, "bob"))
            assert.same({ "ann", "bob", "cy" }, (function()
                local keys = {}
                for k in pairs(s2.hub:presence_state("room:x")) do
                    keys[#keys + 1] = k
                end
                table.sort(keys)
                return keys
            end)())
        end)

        it("drops the metas of a node that dies (SIGKILL) within its TTL", function()
            local s2 = node("phxk-b")
            assert.is_true(R.connected(s2.hub))
            local _, pb = socket(s2, "bob", "room:k")
            assert.is_true(wait_until(function() return metas(pb, "bob") == 1 end))
            local _, kill = R.spawn_node(redis.url, "phxk-a", 1, "room:k", "dora-conn", "dora")
            local ok = wait_until(function() return metas(pb, "dora") == 1 end, 20)
            kill()
            assert.is_true(ok)
            assert.is_true(wait_until(function() return metas(pb, "dora") == 0 end, 3))
            assert.equal(1, metas(pb, "bob"))
        end)
    end)

    it("shares typing flags: set on node A, seen (and expired) on node B", function()
        local a = fx.hub("ty-a", { typing_ttl = 0.5 })
        local b = fx.hub("ty-b", { typing_ttl = 0.5 })
        assert.is_true(R.connected(a, b))
        local ca, cb = a:attach(function() end), b:attach(function() end)
        assert(a:join("room", "ann", ca))
        assert(b:join("room", "bob", cb))
        assert.is_true(wait_until(function()
            return a:member_count("room") == 2 and b:member_count("room") == 2
        end))
        local seen_a, seen_b = {}, {}
        a:on("typing", function(_, who, typing, remote)
            seen_a[#seen_a + 1] = { who, typing, remote }
        end)
        b:on("typing", function(_, who, typing, remote)
            seen_b[#seen_b + 1] = { who, typing, remote }
        end)
        assert.is_true(a:set_typing("room", "ann", true))
        assert.is_true(wait_until(function() return #b:typing("room") == 1 end))
        assert.same({ "ann" }, b:typing("room"))
        assert.same({ { "ann", true, false } }, seen_a)
        assert.same({ { "ann", true, true } }, seen_b)
        assert.is_true(a:set_typing("room", "ann", false))
        assert.is_true(wait_until(function() return #b:typing("room") == 0 end))
        assert.same({ "ann", false, true }, seen_b[2])
        -- set again and left to expire: every node clears it on its own
        a:set_typing("room", "ann", true)
        assert.is_true(wait_until(function() return #b:typing("room") == 1 end))
        assert.is_true(wait_until(function()
            a:tick()
            b:tick()
            return #b:typing("room") == 0 and #a:typing("room") == 0
        end, 3))
    end)

    it("delivers a native direct message to a uid on the other node", function()
        local s1, s2 = fx.listen("dm-a"), fx.listen("dm-b")
        assert.is_true(R.connected(s1.hub, s2.hub))
        local x = raw(s1:url("/c/dm?alias=xena"))
        local y = raw(s2:url("/c/dm"))
        local z = raw(s2:url("/c/dm"))
        later(function() x:close() y:close() z:close() end)
        x:wait_frames(1)
        y:wait_frames(1)
        z:wait_frames(1)
        -- every client has heard of all three (join frames cross nodes)
        local function three(c) return c.frames[#c.frames].users == 3 end
        assert.is_true(wait_until(function()
            return s1.hub:member_count("dm") == 3 and s2.hub:member_count("dm") == 3
                and three(x) and three(y) and three(z)
        end))
        local xuid, yuid = x.frames[1].uid, y.frames[1].uid
        local ny, nz = #y.frames, #z.frames
        x:send("\31" .. yuid .. "\31" .. '{"secret":1}')
        assert.is_true(wait_until(function() return #y.frames > ny end))
        local got = y.frames[#y.frames]
        assert.equal(xuid, got.uid)
        assert.equal("xena", got.alias)
        assert.same({ secret = 1 }, got.message)
        -- an unknown uid: the sender hears so
        local nx = #x.frames
        x:send("\31nobody\31{}")
        assert.is_true(wait_until(function() return #x.frames > nx end))
        assert.equal("error", x.frames[#x.frames].type)
        assert.matches("nobody", x.frames[#x.frames].message)
        settle(0.2)
        assert.equal(ny + 1, #y.frames)
        assert.equal(nz, #z.frames)                     -- nobody else got it
    end)

    it("runs examples/chat.lua on two nodes: presence, typing and messages cross", function()
        local chat = require "examples.chat"
        local A = assert(chat.start({ port = 0, bot = false, redis = redis.url, node = "chat-a" }))
        local B = assert(chat.start({ port = 0, bot = false, redis = redis.url, node = "chat-b" }))
        later(function() A.close() end)
        later(function() B.close() end)
        assert.is_true(R.connected(A.hub, B.hub))
        local ann = raw(("ws://127.0.0.1:%d/c/room:lobby?alias=ann&announce=true"):format(A.port))
        later(function() ann:close() end)
        ann:wait_frames(1)
        -- a Phoenix client on node B sees the native client of node A
        local sock = sb.phoenix.socket(("ws://127.0.0.1:%d/socket"):format(B.port), {})
        later(function() sock:disconnect() end)
        sock:connect()
        local ch = sock:channel("room:lobby", { user = "bob" })
        local lists, typing, msgs = {}, {}, {}
        ch:on("presence", function(p) lists[#lists + 1] = table.concat(p.users, ",") end)
        ch:on("typing", function(p) typing[#typing + 1] = p end)
        ch:on("new_msg", function(p) msgs[#msgs + 1] = p end)
        -- what happened, for the failure message
        local seen = {}
        for _, ev in ipairs { "phx_error", "phx_close" } do
            ch:on(ev, function() seen[#seen + 1] = ev end)
        end
        for name, app in pairs { A = A, B = B } do
            app.server:on("open", function(c) seen[#seen + 1] = name .. " open " .. tostring(c.uid) end)
            app.server:on("close", function(c) seen[#seen + 1] = name .. " close " .. tostring(c.uid) end)
        end
        ch:join()
        assert.is_true(wait_until(function() return lists[#lists] == "ann,bob" end, 10),
            "presence lists seen by bob: " .. table.concat(lists, " | ") .. "; " .. table.concat(seen, ", "))
        -- and the native client on node A sees bob (not his connection uid)
        assert.is_true(wait_until(function()
            local last
            for _, f in ipairs(ann.frames) do
                if type(f) == "table" and f.type == "presence" then
                    last = table.concat(f.message.users, ",")
                end
            end
            return last == "ann,bob"
        end))
        -- typing on node A reaches node B once
        ann:send('{"type":"typing","typing":true}')
        assert.is_true(wait_until(function() return #typing == 1 end))
        assert.same({ user = "ann", typing = true }, typing[1])
        ann:send('{"type":"new_msg","body":"hi from A"}')
        assert.is_true(wait_until(function() return #msgs == 1 end))
        assert.same({ user = "ann", body = "hi from A" }, msgs[1])
        settle(0.3)
        assert.equal(1, #typing)
        assert.equal(1, #msgs)
    end)
end)
