-- The Pusher Channels protocol on the wire (docs/pusher.md): the
-- handshake frame, wrong keys and versions, public, private and presence
-- subscriptions with good and bad signatures, refcounted presence, client
-- events, ping, bad input, the auth endpoint, and one hub shared with
-- native and Phoenix clients.  Raw WebSockets; pusher-js itself is
-- spec/interop_pusher_spec.lua.
local sb = require "switchboard"
local json = require "switchboard.json"
local pusher = require "switchboard.pusher"
local support = require "support"
local H = require "phx_helper"
local http = require "http_helper"

local KEY, SECRET = "app-key", "app-secret"

-- Opens /app/<key> and waits for the first frame.
local function open(srv, path)
    local c = support.raw(srv:url(path or ("/app/" .. KEY .. "?protocol=7&client=js&version=8.6.0")))
    assert(c:wait_open(), "no upgrade")
    c:wait_frames(1)
    local first = c.frames[1]
    if type(first) == "table" and first.event == "pusher:connection_established" then
        c.socket_id = json.decode(first.data).socket_id
    end
    return c
end

-- Frames of event name (optionally on channel), data decoded when it is
-- a JSON string of JSON.
local function events(c, name, channel)
    local out = {}
    for _, f in ipairs(c.frames) do
        if type(f) == "table" and f.event == name and (channel == nil or f.channel == channel) then
            local d = f.data
            if type(d) == "string" then
                d = json.decode(d) or d
            end
            out[#out + 1] = { channel = f.channel, data = d, user_id = f.user_id, raw = f.data }
        end
    end
    return out
end

local function wait_event(c, name, channel, n)
    support.wait_until(function() return #events(c, name, channel) >= (n or 1) end, 3)
    return events(c, name, channel)[n or 1]
end

-- Subscribes to channel, signing private- and presence- channels with the
-- app's secret (opts.auth replaces the signature, opts.user the user_id).
local function subscribe(c, channel, opts)
    opts = opts or {}
    local data = { channel = channel }
    if channel:match("^presence%-") then
        data.channel_data = json.encode({ user_id = opts.user or "u1", user_info = opts.info })
    end
    if channel:match("^private%-") or channel:match("^presence%-") then
        data.auth = opts.auth or pusher.sign(KEY, SECRET, c.socket_id, channel, data.channel_data)
    end
    c:send(json.encode({ event = "pusher:subscribe", data = data }))
end

local function subscribed(c, channel)
    return wait_event(c, "pusher_internal:subscription_succeeded", channel)
end

-- A ping answered means every frame sent before it was handled.
local function sync(c)
    local n = #events(c, "pusher:pong")
    c:send('{"event":"pusher:ping","data":{}}')
    return wait_event(c, "pusher:pong", nil, n + 1) ~= nil
end

local function close_all(list)
    for _, c in ipairs(list) do
        if not c.closed then
            c:close()
        end
    end
end

describe("pusher protocol", function()
    local srv, quiet, clients, left

    setup(function()
        left = {}
        srv = assert(sb.listen({ port = 0, pusher = { app_id = "1", key = KEY, secret = SECRET,
            client_events = true,
            authorize = function(req)
                if req.params.deny then
                    return nil, "denied by the app"
                end
                return { user_id = req.params.user_id, user_info = { name = req.params.user_id } }
            end } }))
        srv:channel("guarded", { join = function(_, _, params)
            return params.user_id ~= nil or nil, "guarded wants presence"
        end })
        srv:channel("audit-*", { join = function() return true end,
            leave = function(_, topic, why) left[#left + 1] = topic .. ":" .. why end })
        srv:channel("private-room", { join = function() return true end,
            on = { ["client-shout"] = function() end } })
        srv:channel("presence-mixed", { join = function(conn, _, q)
            conn.member = q and q.user or conn.member
            return true
        end })
        srv:channel("news", { on = { shout = function(_, topic, payload)
            srv.hub:publish(topic, "shout", payload)
            return {}
        end } })
        srv:channel("private-nojoin", {})
        quiet = assert(sb.listen({ port = 0, pusher = { app_id = "2", key = KEY, secret = SECRET } }))
    end)

    teardown(function()
        srv:close()
        quiet:close()
        support.settle(0.05)
    end)

    before_each(function() clients = {} end)
    after_each(function() close_all(clients) end)

    local function client(s, path)
        local c = open(s or srv, path)
        clients[#clients + 1] = c
        return c
    end

    it("greets with connection_established: socket_id A.B and activity_timeout as a JSON string", function()
        local c = client()
        assert.equal("pusher:connection_established", c.frames[1].event)
        assert.is_string(c.frames[1].data)
        local d = json.decode(c.frames[1].data)
        assert.truthy(d.socket_id:match("^%d+%.%d+$"))
        assert.equal(120, d.activity_timeout)
        local other = client()
        assert.not_equal(c.socket_id, other.socket_id)
        -- the same A for the server, B per connection
        assert.equal(c.socket_id:match("^%d+"), other.socket_id:match("^%d+"))
    end)

    it("answers a wrong key with pusher:error 4001 and closes with 4001", function()
        local c = client(srv, "/app/not-the-key?protocol=7")
        assert.equal("pusher:error", c.frames[1].event)
        assert.equal(4001, c.frames[1].data.code)
        assert.equal(4001, c:wait_closed().code)
    end)

    it("refuses a protocol version it does not speak with 4007", function()
        local c = client(srv, "/app/" .. KEY .. "?protocol=3")
        assert.equal(4007, c.frames[1].data.code)
        assert.equal(4007, c:wait_closed().code)
    end)

    it("subscribes to a public channel and delivers data as a JSON string", function()
        local c = client()
        subscribe(c, "ticker")
        assert.equal("{}", subscribed(c, "ticker").raw)
        srv.hub:publish("ticker", "price", { usd = 7 })
        srv.hub:publish("ticker", "note", "plain text")
        local price = wait_event(c, "price", "ticker")
        assert.equal('{"usd":7}', price.raw)
        assert.equal("plain text", wait_event(c, "note", "ticker").raw)
    end)

    it("checks private signatures: a good one joins, a bad one is a subscription_error", function()
        local c = client()
        subscribe(c, "private-a")
        assert.truthy(subscribed(c, "private-a"))
        subscribe(c, "private-b", { auth = KEY .. ":" .. ("0"):rep(64) })
        local err = wait_event(c, "pusher:subscription_error", "private-b")
        assert.same({ type = "AuthError", error = "invalid signature", status = 401 }, err.data)
        -- signed for another socket: refused too
        subscribe(c, "private-c", { auth = pusher.sign(KEY, SECRET, "1.2", "private-c") })
        assert.equal(401, wait_event(c, "pusher:subscription_error", "private-c").data.status)
        c:send('{"event":"pusher:subscribe","data":{"channel":"private-d"}}')
        assert.equal(401, wait_event(c, "pusher:subscription_error", "private-d").data.status)
        srv.hub:publish("private-b", "leak", {})
        srv.hub:publish("private-a", "ok", {})
        wait_event(c, "ok", "private-a")
        assert.equal(0, #events(c, "leak"))
    end)

    it("counts presence by user: one member_added per user, member_removed after its last socket", function()
        local b = client()
        subscribe(b, "presence-room", { user = "bob", info = { name = "Bob" } })
        local snap = subscribed(b, "presence-room").data.presence
        assert.same({ ids = { "bob" }, hash = { bob = { name = "Bob" } }, count = 1 }, snap)
        local a1, a2 = client(), client()
        subscribe(a1, "presence-room", { user = "ann", info = { name = "Ann" } })
        subscribed(a1, "presence-room")
        subscribe(a2, "presence-room", { user = "ann", info = { name = "Ann" } })
        local snap2 = subscribed(a2, "presence-room").data.presence
        assert.equal(2, snap2.count)
        assert.same({ name = "Bob" }, snap2.hash.bob)
        local added = wait_event(b, "pusher_internal:member_added", "presence-room")
        assert.same({ user_id = "ann", user_info = { name = "Ann" } }, added.data)
        -- the user's own sockets hear nothing of it
        assert.truthy(sync(a1))
        assert.equal(0, #events(a1, "pusher_internal:member_added"))
        a1:send('{"event":"pusher:unsubscribe","data":{"channel":"presence-room"}}')
        assert.truthy(sync(a1))
        assert.truthy(sync(b))
        assert.equal(1, #events(b, "pusher_internal:member_added"))
        assert.equal(0, #events(b, "pusher_internal:member_removed"))
        a2:close()
        local removed = wait_event(b, "pusher_internal:member_removed", "presence-room")
        assert.same({ user_id = "ann" }, removed.data)
        assert.equal(1, srv.hub:member_count("presence-room"))
    end)

    it("refuses presence channel_data without a user_id", function()
        local c = client()
        local cd = '{"user_info":{}}'
        c:send(json.encode({ event = "pusher:subscribe", data = { channel = "presence-x",
            channel_data = cd, auth = pusher.sign(KEY, SECRET, c.socket_id, "presence-x", cd) } }))
        local err = wait_event(c, "pusher:subscription_error", "presence-x")
        assert.equal(400, err.data.status)
    end)

    it("relays client events on private and presence channels, never back to the sender", function()
        local a, b = client(), client()
        subscribe(a, "private-chat")
        subscribe(b, "private-chat")
        subscribed(a, "private-chat")
        subscribed(b, "private-chat")
        a:send('{"event":"client-typing","channel":"private-chat","data":{"on":true}}')
        local got = wait_event(b, "client-typing", "private-chat")
        assert.equal('{"on":true}', got.raw)
        assert.is_nil(got.user_id)
        assert.truthy(sync(a))
        assert.equal(0, #events(a, "client-typing"))
        -- on presence channels receivers learn who sent it
        subscribe(a, "presence-chat", { user = "ann" })
        subscribe(b, "presence-chat", { user = "bob" })
        subscribed(a, "presence-chat")
        subscribed(b, "presence-chat")
        a:send('{"event":"client-wave","channel":"presence-chat","data":"hi"}')
        local wave = wait_event(b, "client-wave", "presence-chat")
        assert.equal("ann", wave.user_id)
        assert.equal("hi", wave.raw)
    end)

    it("refuses client events on public channels and where they are off", function()
        local a = client()
        subscribe(a, "public-chat")
        subscribed(a, "public-chat")
        a:send('{"event":"client-x","channel":"public-chat","data":{}}')
        local e = wait_event(a, "pusher:error")
        assert.equal(json.null, e.data.code)
        assert.truthy(e.data.message:find("private and presence", 1, true))
        a:send('{"event":"client-x","channel":"private-unsubscribed","data":{}}')
        assert.truthy(wait_event(a, "pusher:error", nil, 2).data.message:find("subscribed", 1, true))
        local q = client(quiet)
        local q2 = client(quiet)
        subscribe(q, "private-q")
        subscribe(q2, "private-q")
        subscribed(q, "private-q")
        subscribed(q2, "private-q")
        q:send('{"event":"client-x","channel":"private-q","data":{}}')
        assert.truthy(wait_event(q, "pusher:error").data.message:find("not enabled", 1, true))
        assert.truthy(sync(q2))
        assert.equal(0, #events(q2, "client-x"))
    end)

    it("answers pusher:ping with pusher:pong", function()
        local c = client()
        c:send('{"event":"pusher:ping","data":{}}')
        assert.equal("{}", wait_event(c, "pusher:pong").raw)
    end)

    it("answers bad input with pusher:error and keeps every connection going", function()
        local c, other = client(), client()
        subscribe(other, "calm")
        subscribed(other, "calm")
        for _, bad in ipairs({ "not json", "[1,2]", '{"data":{}}', '{"event":7}',
            '{"event":"pusher:subscribe","data":"[1"}', '{"event":"pusher:subscribe","data":{}}',
            '{"event":"pusher:signin","data":{}}', '{"event":"anything"}' }) do
            c:send(bad)
        end
        c:send("\1\2", true)
        support.wait_until(function() return #events(c, "pusher:error") >= 9 end, 3)
        local errs = events(c, "pusher:error")
        assert.equal(9, #errs)
        for _, e in ipairs(errs) do
            assert.equal(json.null, e.data.code)
            assert.is_string(e.data.message)
        end
        assert.truthy(errs[1].data.message:find("malformed frame", 1, true))
        assert.truthy(sync(c))
        srv.hub:publish("calm", "still", {})
        assert.truthy(wait_event(other, "still", "calm"))
        assert.is_nil(c.closed)
    end)

    it("closes a frame over max_message with 1009 and nobody else notices", function()
        local c, other = client(), client()
        c:send(('{"event":"client-x","data":"%s"}'):format(("x"):rep(70000)))
        assert.equal(1009, c:wait_closed().code)
        assert.truthy(sync(other))
    end)

    it("lets server:channel join handlers refuse and hears leaves", function()
        local c = client()
        subscribe(c, "guarded")
        local err = wait_event(c, "pusher:subscription_error", "guarded")
        assert.same({ type = "AuthError", error = "guarded wants presence", status = 403 }, err.data)
        subscribe(c, "audit-1")
        subscribed(c, "audit-1")
        c:send('{"event":"pusher:unsubscribe","data":{"channel":"audit-1"}}')
        assert.truthy(sync(c))
        assert.same({ "audit-1:leave" }, left)
    end)

    it("shares channels with native and Phoenix clients, both ways", function()
        local p = client()
        subscribe(p, "news")
        subscribed(p, "news")
        local n = support.raw(srv:url("/c/news"))
        clients[#clients + 1] = n
        assert(n:wait_open())
        n:send('{"text":"from native"}')
        local m = wait_event(p, "message", "news")
        assert.same({ text = "from native" }, m.data.message)
        assert.is_string(m.data.uid)
        local phx = H.open(srv.port, "/socket/websocket?vsn=2.0.0")
        phx:send('["1","1","news","phx_join",{}]')
        H.wait(function() return phx:find(function(x) return x[4] == "phx_reply" end) end)
        phx:send('["1","2","news","shout",{"loud":true}]')
        assert.equal('{"loud":true}', wait_event(p, "shout", "news").raw)
        -- and a Pusher client event reaches both on a private channel
        local n2 = support.raw(srv:url("/c/private-room"))
        clients[#clients + 1] = n2
        assert(n2:wait_open())
        phx:send('["2","3","private-room","phx_join",{}]')
        H.wait(function() return phx:find(function(x) return x[3] == "private-room" end) end)
        subscribe(p, "private-room")
        subscribed(p, "private-room")
        p:send('{"event":"client-shout","channel":"private-room","data":{"v":1}}')
        assert.truthy(support.wait_until(function() return #n2:of_type("client-shout") > 0 end, 3))
        assert.same({ v = 1 }, n2:of_type("client-shout")[1].message)
        local got = H.wait(function()
            return phx:find(function(x) return x[4] == "client-shout" end)
        end)
        assert.same({ v = 1 }, got[5])
        phx.close()
    end)

    it("shows members joined over other protocols, and theirs to them", function()
        local n = support.raw(srv:url("/c/presence-mixed?user=nat"))
        clients[#clients + 1] = n
        assert(n:wait_open())
        local p = client()
        subscribe(p, "presence-mixed", { user = "pam" })
        local snap = subscribed(p, "presence-mixed").data.presence
        table.sort(snap.ids)
        assert.same({ "nat", "pam" }, snap.ids)
        assert.equal(json.null, snap.hash.nat)
        assert.truthy(srv.hub:is_present("presence-mixed", "pam"))
        n:close()
        assert.same({ user_id = "nat" },
            wait_event(p, "pusher_internal:member_removed", "presence-mixed").data)
    end)

    it("keeps private- and presence- channels closed to other protocols without a join handler", function()
        local n = support.raw(srv:url("/c/private-open"))
        assert.is_false(n:wait_open())
        local nh = support.raw(srv:url("/c/private-nojoin"))
        assert.is_false(nh:wait_open())
        local phx = H.open(srv.port, "/socket/websocket?vsn=2.0.0")
        phx:send('["1","1","private-nojoin","phx_join",{}]')
        local reply = H.wait(function() return phx:find(function(x) return x[4] == "phx_reply" end) end)
        assert.equal("error", reply[5].status)
        assert.truthy(reply[5].response.reason:find("private", 1, true))
        phx.close()
        local post = http.request(srv.port, "POST", "/sse/presence-x",
            { ["content-type"] = "application/json" }, '{"a":1}')
        assert.equal(403, post.status)
    end)

    describe("auth endpoint", function()
        local function auth(body)
            return http.request(srv.port, "POST", "/pusher/auth",
                { ["content-type"] = "application/x-www-form-urlencoded" }, body)
        end

        it("signs what authorize allows, with channel_data on presence channels", function()
            local r = auth("socket_id=123.456&channel_name=private-x")
            assert.equal(200, r.status)
            assert.equal(pusher.sign(KEY, SECRET, "123.456", "private-x"), r.json.auth)
            r = auth("socket_id=123.456&channel_name=presence-x&user_id=ann%20b")
            assert.equal(200, r.status)
            assert.same({ user_id = "ann b", user_info = { name = "ann b" } }, json.decode(r.json.channel_data))
            assert.equal(pusher.sign(KEY, SECRET, "123.456", "presence-x", r.json.channel_data), r.json.auth)
        end)

        it("answers 403 when authorize refuses, 400 for a bad request, 405 for GET", function()
            local r = auth("socket_id=1.2&channel_name=private-x&deny=1")
            assert.equal(403, r.status)
            assert.equal("denied by the app", r.json.error)
            assert.equal(403, auth("socket_id=1.2&channel_name=presence-x").status)
            assert.equal(400, auth("socket_id=abc&channel_name=private-x").status)
            assert.equal(400, auth("socket_id=1.2").status)
            assert.equal(405, http.request(srv.port, "GET", "/pusher/auth").status)
            assert.equal(413, auth("socket_id=1.2&channel_name=" .. ("x"):rep(20000)).status)
        end)

        it("is not served without authorize", function()
            local r = http.request(quiet.port, "POST", "/pusher/auth", {}, "socket_id=1.2")
            assert.equal(404, r.status)
        end)
    end)
end)

describe("pusher options", function()
    it("are checked up front", function()
        assert.has_error(function() sb.listen({ port = 0, pusher = { key = "k", secret = "s" } }) end,
            "switchboard.listen: option 'pusher.app_id' is required (a non-empty string without '/', "
                .. "spaces or control characters, or a number)")
        assert.has_error(function()
            sb.listen({ port = 0, pusher = { app_id = 1, key = "k", secret = "s", client_event = true } })
        end, "switchboard.listen: unknown option 'pusher.client_event' (did you mean 'pusher.client_events'?)")
        assert.has_error(function()
            sb.listen({ port = 0, pusher = { app_id = 1, key = "a/b", secret = "s" } })
        end)
    end)
end)
