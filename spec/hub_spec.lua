-- The hub as room logic sees it: fake connections, no sockets.
local sb = require "switchboard"

-- A fake connection that records what it receives.
local function recorder(hub)
    local inbox = {}
    local conn = hub:attach(function(channel, event, payload, info)
        inbox[#inbox + 1] = { channel = channel, event = event, payload = payload, info = info }
    end)
    return conn, inbox
end

-- Records every hub event as a string "name channel member [conn id|typing]".
local function event_log(hub)
    local log = {}
    for _, name in ipairs { "session:join", "presence:join", "presence:leave", "session:leave" } do
        hub:on(name, function(channel, member, conn)
            log[#log + 1] = ("%s %s %s %s"):format(name, channel, member, tostring(conn and conn.id))
        end)
    end
    hub:on("typing", function(channel, member, typing)
        log[#log + 1] = ("typing %s %s %s"):format(channel, member, tostring(typing))
    end)
    return log
end

describe("hub membership", function()
    it("joins, reports presence and counts, and leaves", function()
        local hub = sb.hub()
        local a = recorder(hub)
        local b = recorder(hub)
        assert.is_true(hub:join("room", "alice", a))
        assert.is_true(hub:join("room", "bob", b))
        assert.same({ "alice", "bob" }, hub:presence("room"))
        assert.is_true(hub:is_present("room", "alice"))
        assert.is_false(hub:is_present("room", "carol"))
        assert.equal(2, hub:member_count("room"))
        assert.equal(2, hub:connection_count("room"))
        assert.equal("alice", hub:member_of("room", a))
        assert.is_true(hub:leave("room", "alice", a))
        assert.same({ "bob" }, hub:presence("room"))
        assert.is_false(hub:leave("room", "alice", a))
        assert.equal(0, hub:member_count("nowhere"))
        assert.same({}, hub:presence("nowhere"))
    end)

    it("treats a repeated join as a no-op and refuses a second identity", function()
        local hub = sb.hub()
        local a = recorder(hub)
        assert.is_true(hub:join("room", "alice", a))
        assert.is_false(hub:join("room", "alice", a))
        assert.equal(1, hub:connection_count("room"))
        local ok, err, code = hub:join("room", "mallory", a)
        assert.is_nil(ok)
        assert.equal("EJOINED", code)
        assert.matches("another member", err)
        local left, lerr = hub:leave("room", "mallory", a)
        assert.is_nil(left)
        assert.matches('as member "alice", not "mallory"', lerr, 1, true)
    end)

    it("disconnect and conn:close leave every channel", function()
        local hub = sb.hub()
        local a = recorder(hub)
        local b = recorder(hub)
        hub:join("one", "alice", a)
        hub:join("two", "alice", a)
        hub:join("two", "bob", b)
        hub:disconnect(a)
        assert.same({}, hub:presence("one"))
        assert.same({ "bob" }, hub:presence("two"))
        hub:disconnect(a)
        b:close()
        b:close()
        assert.same({}, hub:channels())
        assert.is_true(b.closed)
        local ok, err = hub:join("two", "bob", b)
        assert.is_nil(ok)
        assert.matches("closed", err)
    end)

    it("lists channels with member and connection counts", function()
        local hub = sb.hub()
        local a, b, c = recorder(hub), recorder(hub), recorder(hub)
        hub:join("lobby", "alice", a)
        hub:join("lobby", "alice", b)
        hub:join("game:1", "carol", c)
        assert.same({
            { name = "game:1", members = 1, connections = 1 },
            { name = "lobby", members = 1, connections = 2 },
        }, hub:channels())
    end)

    it("limits the channels of one connection", function()
        local hub = sb.hub { max_channels = 2 }
        local a = recorder(hub)
        assert.is_true(hub:join("c1", "alice", a))
        assert.is_true(hub:join("c2", "alice", a))
        local ok, err, code = hub:join("c3", "alice", a)
        assert.is_nil(ok)
        assert.equal("ELIMIT", code)
        assert.matches("too many channels", err)
        hub:leave("c1", "alice", a)
        assert.is_true(hub:join("c3", "alice", a))
    end)
end)

describe("hub presence", function()
    it("keeps a member present while any of its devices is joined", function()
        local hub = sb.hub()
        local log = event_log(hub)
        local phone, laptop = recorder(hub), recorder(hub)
        assert.is_true(hub:join("room", "alice", phone))
        assert.is_false(hub:join("room", "alice", laptop))
        assert.equal(1, hub:member_count("room"))
        assert.equal(2, hub:connection_count("room"))
        assert.is_false(hub:leave("room", "alice", phone))
        assert.is_true(hub:is_present("room", "alice"))
        assert.is_true(hub:leave("room", "alice", laptop))
        assert.is_false(hub:is_present("room", "alice"))
        local p, l = phone.id, laptop.id
        assert.same({
            "session:join room alice " .. p,
            "presence:join room alice " .. p,
            "session:join room alice " .. l,
            "session:leave room alice " .. p,
            "presence:leave room alice " .. l,
            "session:leave room alice " .. l,
        }, log)
    end)

    it("does not flicker when a reconnect joins before the old conn leaves", function()
        local hub = sb.hub()
        local joins, leaves = 0, 0
        hub:on("presence:join", function() joins = joins + 1 end)
        hub:on("presence:leave", function() leaves = leaves + 1 end)
        local old = recorder(hub)
        hub:join("room", "alice", old)
        local new = recorder(hub)
        hub:join("room", "alice", new)
        old:close()
        assert.equal(1, joins)
        assert.equal(0, leaves)
        assert.same({ "alice" }, hub:presence("room"))
    end)

    it("fires events after the state changed, so listeners see it", function()
        local hub = sb.hub()
        local seen = {}
        hub:on("presence:join", function(channel, member)
            seen[#seen + 1] = { "join", hub:is_present(channel, member), hub:connection_count(channel) }
        end)
        hub:on("presence:leave", function(channel, member)
            seen[#seen + 1] = { "leave", hub:is_present(channel, member), hub:connection_count(channel) }
        end)
        local a = recorder(hub)
        hub:join("room", "alice", a)
        hub:leave("room", "alice", a)
        assert.same({ { "join", true, 1 }, { "leave", false, 0 } }, seen)
    end)

    it("supports several listeners and off", function()
        local hub = sb.hub()
        local n1, n2 = 0, 0
        local function l1() n1 = n1 + 1 end
        local function l2() n2 = n2 + 1 end
        hub:on("session:join", l1):on("session:join", l2)
        hub:join("room", "a", recorder(hub))
        assert.is_true(hub:off("session:join", l1))
        assert.is_false(hub:off("session:join", l1))
        hub:join("room", "b", recorder(hub))
        assert.equal(1, n1)
        assert.equal(2, n2)
    end)

    it("keeps working when a listener raises", function()
        local hub = sb.hub()
        local reported = {}
        local onerror = function(where, err) reported[#reported + 1] = where .. ": " .. tostring(err) end
        local reg = debug.getregistry()
        local saved = reg["switchboard.onerror"]
        reg["switchboard.onerror"] = onerror
        hub:on("presence:join", function() error("boom") end)
        local ok = hub:join("room", "alice", recorder(hub))
        reg["switchboard.onerror"] = saved
        assert.is_true(ok)
        assert.same({ "alice" }, hub:presence("room"))
        assert.equal(1, #reported)
        assert.matches("boom", reported[1])
    end)
end)

describe("hub publish", function()
    it("delivers the decoded payload with its info and counts receivers", function()
        local hub = sb.hub()
        local a, inbox_a = recorder(hub)
        local b, inbox_b = recorder(hub)
        hub:join("room", "alice", a)
        hub:join("room", "bob", b)
        assert.equal(2, hub:publish("room", "chat", { text = "hi", n = 3 }, { from = "u1", alias = "Al" }))
        assert.equal(1, #inbox_a)
        assert.equal(1, #inbox_b)
        local msg = inbox_a[1]
        assert.equal("room", msg.channel)
        assert.equal("chat", msg.event)
        assert.equal("hi", msg.payload.text)
        assert.equal(3, msg.payload.n)
        assert.equal("u1", msg.info.from)
        assert.equal("Al", msg.info.alias)
        assert.equal(1, msg.info.offset)
        assert.is_false(msg.info.binary)
        assert.is_true(math.abs(msg.info.date / 1000 - os.time()) < 5)
    end)

    it("defaults the event to message and passes plain values", function()
        local hub = sb.hub()
        local a, inbox = recorder(hub)
        hub:join("room", "alice", a)
        hub:publish("room", nil, "just text")
        hub:publish("room", nil, nil)
        assert.equal("message", inbox[1].event)
        assert.equal("just text", inbox[1].payload)
        assert.is_nil(inbox[2].payload)
    end)

    it("excludes a connection and every connection of a member", function()
        local hub = sb.hub()
        local a1, in_a1 = recorder(hub)
        local a2, in_a2 = recorder(hub)
        local b, in_b = recorder(hub)
        local c, in_c = recorder(hub)
        hub:join("room", "alice", a1)
        hub:join("room", "alice", a2)
        hub:join("room", "bob", b)
        hub:join("room", "carol", c)
        assert.equal(3, hub:publish("room", "x", 1, { except = b }))
        assert.same({ 1, 1, 0, 1 }, { #in_a1, #in_a2, #in_b, #in_c })
        assert.equal(2, hub:publish("room", "x", 2, { except_member = "alice" }))
        assert.same({ 1, 1, 1, 2 }, { #in_a1, #in_a2, #in_b, #in_c })
        assert.equal(1, hub:publish("room", "x", 3, { except = c, except_member = "alice" }))
        assert.same({ 1, 1, 2, 2 }, { #in_a1, #in_a2, #in_b, #in_c })
    end)

    it("returns 0 and creates nothing for a channel nobody joined", function()
        local hub = sb.hub()
        assert.equal(0, hub:publish("empty", "x", {}))
        assert.same({}, hub:channels())
        local epoch, offset = hub:position("empty")
        assert.equal(0, epoch)
        assert.equal(0, offset)
    end)

    it("raises on misuse", function()
        local hub = sb.hub()
        assert.has_error(function() hub:publish(42, "x", 1) end, "hub:publish: channel must be a string, got number")
        assert.has_error(function() hub:publish("room", "x", 1, { nope = 1 }) end)
        assert.has_error(function() hub:publish("room", "x", 1, { from = 7 }) end,
            "hub:publish: option from must be a string, got number")
        assert.has_error(function() hub:publish("room", "x", function() end) end)
        assert.has_error(function() hub:join("room", "alice", nil) end)
        assert.has_error(function() hub:join("room", {}, hub:attach(function() end)) end)
        assert.has_error(function() hub:on("presence:jion", function() end) end)
        assert.has_error(function() hub:on("typing", "not a function") end)
        assert.has_error(function() hub:attach() end)
        assert.has_error(function() sb.hub { typing_tll = 3 } end)
        assert.has_error(function() sb.hub { history = -1 } end)
    end)
end)

describe("hub re-entrancy", function()
    it("survives a deliver hook that leaves, disconnects and publishes", function()
        local hub = sb.hub()
        local got = {}
        local conns = {}
        local function make(name, hook)
            local conn
            conn = hub:attach(function(_, event, payload)
                got[#got + 1] = name .. ":" .. event .. ":" .. tostring(payload)
                if hook then hook(conn, event) end
            end)
            conns[name] = conn
            return conn
        end
        make("a", function(self, event)
            if event == "first" then
                hub:leave("room", "a", self)            -- leave itself
                hub:disconnect(conns.b)                 -- and someone not yet reached
                hub:publish("room", "nested", "1")      -- nested publish
                hub:join("room", "late", make("late"))  -- joins during the publish
            end
        end)
        make("b")
        make("c", function(self, event)
            if event == "first" then
                self:close()
            end
        end)
        -- subscriptions are walked newest first
        hub:join("room", "c", conns.c)
        hub:join("room", "b", conns.b)
        hub:join("room", "a", conns.a)
        local n = hub:publish("room", "first", "0")
        -- a received it; b was disconnected before its turn; c still got it
        assert.equal(2, n)
        assert.same({ "a:first:0", "c:nested:1", "c:first:0" }, got)
        assert.same({ "late" }, hub:presence("room"))
        assert.equal(1, hub:publish("room", "after", "2"))
        assert.equal("late:after:2", got[#got])
    end)

    it("frees a channel emptied from inside its own fan-out", function()
        local hub = sb.hub()
        local a
        a = hub:attach(function() a:close() end)
        local b
        b = hub:attach(function() hub:disconnect(b) end)
        hub:join("room", "a", a)
        hub:join("room", "b", b)
        assert.equal(2, hub:publish("room", "x", 1))
        assert.same({}, hub:channels())
        assert.equal(0, hub:connection_count("room"))
        assert.is_true(hub:join("room", "a", hub:attach(function() end)))
    end)

    it("lets an event listener rejoin during presence:leave", function()
        local hub = sb.hub()
        local a, b = recorder(hub), recorder(hub)
        hub:on("presence:leave", function(channel, member)
            if member == "alice" then hub:join(channel, member, b) end
        end)
        hub:join("room", "alice", a)
        assert.is_true(hub:leave("room", "alice", a))
        assert.same({ "alice" }, hub:presence("room"))
        assert.equal("alice", hub:member_of("room", b))
    end)
end)

describe("hub deliver errors", function()
    it("reports a raising deliver hook and still reaches the others", function()
        local hub = sb.hub()
        local reported = {}
        local reg = debug.getregistry()
        local saved = reg["switchboard.onerror"]
        reg["switchboard.onerror"] = function(where, err) reported[#reported + 1] = where .. ": " .. err end
        local bad = hub:attach(function() error("deliver failed") end)
        local good, inbox = recorder(hub)
        hub:join("room", "bad", bad)
        hub:join("room", "good", good)
        local n = hub:publish("room", "x", "hi")
        reg["switchboard.onerror"] = saved
        assert.equal(2, n)
        assert.equal(1, #inbox)
        assert.equal(1, #reported)
        assert.matches("hub deliver: .*deliver failed", reported[1])
    end)
end)

describe("hub stats", function()
    it("counts idle channels, kept messages, typing and dead-free subscriptions", function()
        local hub = sb.hub { history = 2 }
        local a = recorder(hub)
        hub:join("room", "alice", a)
        hub:set_typing("room", "alice", true)
        for i = 1, 3 do hub:publish("room", "n", i) end
        assert.same({ channels = 1, idle_channels = 0, subscriptions = 1, members = 1,
            typing = 1, kept_messages = 2 }, hub:stats())
        a:close()
        assert.same({ channels = 1, idle_channels = 1, subscriptions = 0, members = 0,
            typing = 0, kept_messages = 2 }, hub:stats())
    end)
end)

describe("hub typing", function()
    local now
    local function clock() return now end

    before_each(function() now = 100 end)

    it("clears itself after typing_ttl on tick", function()
        local hub = sb.hub { typing_ttl = 5, clock = clock }
        local log = event_log(hub)
        local a = recorder(hub)
        hub:join("room", "alice", a)
        assert.is_true(hub:set_typing("room", "alice", true, a))
        assert.is_false(hub:set_typing("room", "alice", true, a))
        assert.same({ "alice" }, hub:typing("room"))
        now = 103
        assert.near(2, hub:tick(), 1e-9)
        assert.same({ "alice" }, hub:typing("room"))
        now = 105
        assert.is_nil(hub:tick())
        assert.same({}, hub:typing("room"))
        assert.equal("typing room alice false", log[#log])
        assert.equal("typing room alice true", log[#log - 1])
    end)

    it("restarts the TTL when set again and clears on request", function()
        local hub = sb.hub { typing_ttl = 5, clock = clock }
        local a = recorder(hub)
        hub:join("room", "alice", a)
        hub:set_typing("room", "alice", true)
        now = 104
        hub:set_typing("room", "alice", true)
        now = 106
        hub:tick()
        assert.same({ "alice" }, hub:typing("room"))
        assert.is_true(hub:set_typing("room", "alice", false))
        assert.same({}, hub:typing("room"))
        assert.is_nil(hub:tick())
    end)

    it("clears typing when the member becomes absent", function()
        local hub = sb.hub { clock = clock }
        local log = event_log(hub)
        local a = recorder(hub)
        hub:join("room", "alice", a)
        hub:set_typing("room", "alice", true)
        a:close()
        assert.same({}, hub:typing("room"))
        assert.same({
            "typing room alice false",
            "presence:leave room alice " .. a.id,
            "session:leave room alice " .. a.id,
        }, { log[#log - 2], log[#log - 1], log[#log] })
        local b = recorder(hub)
        hub:join("room", "alice", b)
        assert.same({}, hub:typing("room"))
    end)

    it("refuses typing for absent members and wrong connections", function()
        local hub = sb.hub { clock = clock }
        local a, b = recorder(hub), recorder(hub)
        hub:join("room", "alice", a)
        local ok, err, code = hub:set_typing("room", "bob", true)
        assert.is_nil(ok)
        assert.equal("ENOTFOUND", code)
        assert.matches('member "bob" is not present in channel "room"', err, 1, true)
        ok, err = hub:set_typing("room", "alice", true, b)
        assert.is_nil(ok)
        assert.matches("not joined", err)
        assert.has_error(function() hub:set_typing("room", "alice", "yes") end)
    end)
end)

describe("hub validation", function()
    it("refuses bad channel names with a message naming them", function()
        local hub = sb.hub()
        local a = recorder(hub)
        for _, name in ipairs { "", "has space", "semi;colon", "nul\0byte", ("x"):rep(256) } do
            local ok, err, code = hub:join(name, "alice", a)
            assert.is_nil(ok)
            assert.equal("ECHANNEL", code)
            assert.matches("invalid channel name", err)
            local n, perr = hub:publish(name, "x", 1)
            assert.is_nil(n)
            assert.matches("invalid channel name", perr)
            local l, lerr = hub:leave(name, "alice", a)
            assert.is_nil(l)
            assert.matches("invalid channel name", lerr)
        end
        local _, err = hub:join("has space", "alice", a)
        assert.matches('"has space"', err, 1, true)
        assert.is_true(hub:join(("x"):rep(255), "alice", a))
        assert.is_true(hub:join("a-Z_0.9:@/x", "alice", a))
    end)

    it("refuses bad member ids with a message naming them", function()
        local hub = sb.hub()
        local a = recorder(hub)
        for _, id in ipairs { "", "tab\there", "bell\7", "del\127", ("m"):rep(256) } do
            local ok, err, code = hub:join("room", id, a)
            assert.is_nil(ok)
            assert.equal("EMEMBER", code)
            assert.matches("invalid member id", err)
        end
        local _, err = hub:join("room", "tab\there", a)
        assert.matches('"tab\\009here"', err, 1, true)
        assert.is_true(hub:join("room", "Zoë 🦊 <b>", a))
        assert.is_true(hub:join("room2", 42, a))
        assert.same({ "42" }, hub:presence("room2"))
    end)
end)

describe("hub history", function()
    local now
    local function clock() return now end

    before_each(function() now = 0 end)

    it("numbers messages per channel from 1 with one epoch", function()
        local hub = sb.hub { history = 3 }
        local a, inbox = recorder(hub)
        hub:join("room", "alice", a)
        hub:join("other", "alice", a)
        for i = 1, 4 do hub:publish("room", "n", i) end
        hub:publish("other", "n", 0)
        local epoch, offset = hub:position("room")
        assert.equal(4, offset)
        assert.is_true(epoch > 0)
        for i = 1, 4 do
            assert.equal(i, inbox[i].info.offset)
            assert.equal(epoch, inbox[i].info.epoch)
        end
        local oe, oo = hub:position("other")
        assert.equal(1, oo)
        assert.not_equal(epoch, oe)
    end)

    it("replays after an offset and reports a gap", function()
        local hub = sb.hub { history = 3 }
        local a = recorder(hub)
        hub:join("room", "alice", a)
        for i = 1, 5 do hub:publish("room", "n", { i = i }) end
        local epoch = hub:position("room")
        local got = {}
        local n = hub:replay("room", epoch, 3, function(channel, event, payload, info)
            got[#got + 1] = { channel, event, payload.i, info.offset }
        end)
        assert.equal(2, n)
        assert.same({ { "room", "n", 4, 4 }, { "room", "n", 5, 5 } }, got)
        assert.equal(3, hub:replay("room", epoch, 2, function() end))
        assert.equal(0, hub:replay("room", epoch, 5, function() end))
        local none, err = hub:replay("room", epoch, 1, function() error("not called") end)
        assert.is_nil(none)
        assert.equal("gap", err)
        assert.is_nil(hub:replay("room", epoch + 1, 4, function() end))
        assert.is_nil(hub:replay("room", epoch, 6, function() end))
    end)

    it("keeps history of an empty channel and gives a recreated one a new epoch", function()
        local hub = sb.hub { history = 10 }
        local a = recorder(hub)
        hub:join("room", "alice", a)
        hub:publish("room", "n", 1)
        local epoch = hub:position("room")
        a:close()
        assert.same({}, hub:channels())
        -- still kept for recovery
        local e2, o2 = hub:position("room")
        assert.equal(epoch, e2)
        assert.equal(1, o2)
        assert.equal(1, hub:replay("room", epoch, 0, function() end))
        -- publishing to nobody still keeps history when it is on
        assert.equal(0, hub:publish("ghost", "n", 1))
        local ge, go = hub:position("ghost")
        assert.is_true(ge > 0)
        assert.equal(1, go)
        -- without history a recreated channel starts over with a new epoch
        local plain = sb.hub()
        local b = recorder(plain)
        plain:join("room", "bob", b)
        plain:publish("room", "n", 1)
        local pe = plain:position("room")
        b:close()
        assert.equal(0, (plain:position("room")))
        plain:join("room", "bob", recorder(plain))
        local pe2, po2 = plain:position("room")
        assert.not_equal(pe, pe2)
        assert.equal(0, po2)
        assert.is_nil(plain:replay("room", pe, 0, function() end))
    end)

    it("expires history after history_ttl and frees idle channels", function()
        local hub = sb.hub { history = 10, history_ttl = 60, clock = clock }
        local a = recorder(hub)
        hub:join("room", "alice", a)
        hub:publish("room", "n", 1)
        now = 30
        hub:publish("room", "n", 2)
        local epoch = hub:position("room")
        a:close()
        now = 61
        assert.near(29, hub:tick(), 1e-9)
        assert.is_nil(hub:replay("room", epoch, 0, function() end))
        assert.equal(1, hub:replay("room", epoch, 1, function() end))
        now = 91
        assert.is_nil(hub:tick())
        assert.equal(0, (hub:position("room")))
    end)

    it("evicts the longest-idle channel beyond max_idle_channels", function()
        local hub = sb.hub { history = 5, max_idle_channels = 2 }
        for i = 1, 3 do
            local c = recorder(hub)
            hub:join("room" .. i, "alice", c)
            hub:publish("room" .. i, "n", i)
            c:close()
        end
        assert.equal(0, (hub:position("room1")))
        assert.equal(1, select(2, hub:position("room2")))
        assert.equal(1, select(2, hub:position("room3")))
    end)
end)

describe("hub memory", function()
    it("frees a channel on its last leave", function()
        local hub = sb.hub()
        local a = recorder(hub)
        hub:join("room", "alice", a)
        hub:leave("room", "alice", a)
        assert.same({}, hub:channels())
        assert.equal(0, (hub:position("room")))
    end)

    it("does not grow with 10k join/leave churn", function()
        local hub = sb.hub()
        local conns = {}
        for i = 1, 20 do conns[i] = hub:attach(function() end) end
        local function churn()
            for i = 1, 10000 do
                local c = conns[i % 20 + 1]
                local ch = "room:" .. (i % 97)
                hub:join(ch, "m" .. (i % 13), c)
                hub:publish(ch, "x", i)
                hub:leave(ch, "m" .. (i % 13), c)
            end
        end
        churn()
        collectgarbage()
        collectgarbage()
        local before = collectgarbage("count")
        churn()
        collectgarbage()
        collectgarbage()
        assert.same({}, hub:channels())
        assert.same({ channels = 0, idle_channels = 0, subscriptions = 0, members = 0,
            typing = 0, kept_messages = 0 }, hub:stats())
        assert.is_true(collectgarbage("count") - before < 64, "Lua heap grew")
    end)

    it("lets unreferenced hubs and connections be collected", function()
        local weak = setmetatable({}, { __mode = "v" })
        do
            local hub = sb.hub()
            local a = hub:attach(function() end)
            hub:join("room", "alice", a)
            hub:on("presence:join", function() return hub end)
            weak.hub, weak.conn = hub, a
        end
        collectgarbage()
        collectgarbage()
        collectgarbage()
        assert.is_nil(weak.hub)
        assert.is_nil(weak.conn)
    end)
end)
