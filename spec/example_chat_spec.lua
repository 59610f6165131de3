-- examples/chat.lua: rooms, presence keyed by user, typing, new_msg, the
-- /time bot, and the room rules the Phoenix side relies on (checked here
-- through the handlers and a socket-less hub connection).
local sb = require "switchboard"
local async = require "async_helpers"
local support = require "support"
local http = require "http_helper"
local json = require "switchboard.json"
local chat = require "examples.chat"

local function same_set(list)
    local t = {}
    for _, v in ipairs(list or {}) do
        t[#t + 1] = v
    end
    table.sort(t)
    return t
end

describe("examples/chat.lua", function()
    local app, clients

    before_each(function()
        app = assert(chat.start({ port = 0 }))
        clients = {}
    end)

    after_each(function()
        async.cleanup(clients, { app })
    end)

    local function join(room, alias)
        local rec = async.client(app.port, "/c/room:" .. room, { alias = alias, announce = true })
        clients[#clients + 1] = rec
        return rec
    end

    -- a Phoenix connection as the room handlers see it
    local function phoenix_conn_of()
        return { protocol = "phoenix", assigns = {}, id = 1 }
    end

    -- a raw native page's last presence list is `users`
    local function presence_is_raw(r, users)
        local p = r:of_type("presence")
        return #p > 0 and table.concat(same_set(p[#p].message.users), ",") == table.concat(users, ",")
    end

    local function presence_is(rec, users)
        local p = async.last(rec, "presence")
        if not p then
            return false
        end
        return table.concat(same_set(p.users), ",") == table.concat(users, ",")
    end

    it("starts on port 0 and serves the page", function()
        assert.is_true(app.port > 0)
        local f = assert(io.open("examples/public/index.html"))
        assert.truthy(f:read("*a"):find("chat.js", 1, true))
        f:close()
    end)

    it("keeps a presence list keyed by alias and sends it to everyone", function()
        local alice = join("test", "alice")
        assert.truthy(async.wait_for(function() return presence_is(alice, { "alice" }) end))
        local bob = join("test", "bob")
        assert.truthy(async.wait_for(function()
            return presence_is(alice, { "alice", "bob" }) and presence_is(bob, { "alice", "bob" })
        end))
        assert.same({ "alice", "bob" }, app.hub:presence("room:test"))

        -- a second tab of alice is one presence, and gets the list too
        local alice2 = join("test", "alice")
        assert.truthy(async.wait_for(function() return presence_is(alice2, { "alice", "bob" }) end))
        assert.equal(2, app.hub:member_count("room:test"))
        assert.equal(3, app.hub:connection_count("room:test"))

        -- closing one of alice's tabs keeps her present; bob leaving is announced
        alice2.c:close()
        assert.truthy(async.wait_for(function() return app.hub:connection_count("room:test") == 2 end))
        assert.same({ "alice", "bob" }, app.hub:presence("room:test"))
        bob.c:close()
        assert.truthy(async.wait_for(function() return presence_is(alice, { "alice" }) end))
    end)

    describe("one presence event per arrival", function()
        local raws, streams

        before_each(function()
            app:close()
            app = assert(chat.start({ port = 0, bot = false }))
            raws, streams = {}, {}
        end)

        after_each(function()
            for _, r in ipairs(raws) do
                r:close()
            end
            for _, st in ipairs(streams) do
                st:close()
            end
        end)

        -- a native page as the browser sees it: every frame, in order
        local function native(room, alias)
            local r = support.raw(("ws://127.0.0.1:%d/c/room:%s?alias=%s&announce=true")
                :format(app.port, room, alias))
            raws[#raws + 1] = r
            return r
        end

        local function sse(path)
            local st = http.open(app.port, "GET", path)
            streams[#streams + 1] = st
            return st
        end

        local function types(r)
            local out = {}
            for _, f in ipairs(r.frames) do
                out[#out + 1] = f.type
            end
            return table.concat(out, " ")
        end

        -- What is on its way arrives before the answer to a message sent
        -- now: a round trip through the room ends the wait.
        local function round_trip(r, body)
            r:send(json.encode({ type = "new_msg", body = body }))
            assert.is_true(support.wait_until(function()
                for _, f in ipairs(r:of_type("new_msg")) do
                    if f.message.body == body then
                        return true
                    end
                end
            end))
        end

        it("native: the joiner gets join then one presence, the others one presence", function()
            local ana = native("once", "ana")
            assert.is_true(support.wait_until(function() return #ana:of_type("presence") > 0 end))
            round_trip(ana, "one")
            assert.equal("join presence new_msg", types(ana))
            assert.same({ "ana" }, ana:of_type("presence")[1].message.users)

            local ben = native("once", "ben")
            assert.is_true(support.wait_until(function() return #ben:of_type("presence") > 0 end))
            round_trip(ben, "two")
            round_trip(ana, "three")
            assert.equal("join presence new_msg new_msg", types(ben))
            assert.equal("join presence new_msg join presence new_msg new_msg", types(ana))
            assert.same({ "ana", "ben" }, ana:of_type("presence")[2].message.users)

            -- a second tab of ana changes nobody's list; only that tab gets one
            local ana2 = native("once", "ana")
            assert.is_true(support.wait_until(function() return #ana2:of_type("presence") > 0 end))
            round_trip(ana2, "four")
            assert.equal(1, #ana2:of_type("presence"))
            assert.equal(2, #ana:of_type("presence"))

            -- a departure: one presence event too
            ben:close()
            assert.is_true(support.wait_until(function() return #ana:of_type("presence") == 3 end))
            round_trip(ana, "five")
            assert.equal(3, #ana:of_type("presence"))
            assert.same({ "ana" }, ana:of_type("presence")[3].message.users)
        end)

        it("SSE: a stream that joins gets one presence event, and so does the room", function()
            local ana = native("seen", "ana")
            assert.is_true(support.wait_until(function() return #ana:of_type("presence") == 1 end))
            local zed = sse("/sse/room:seen?user=zed")
            local function presences()
                local out = {}
                for _, ev in ipairs(zed:messages()) do
                    if ev.event == "presence" then
                        out[#out + 1] = json.decode(ev.data)
                    end
                end
                return out
            end
            assert.is_true(zed:wait(function() return #presences() > 0 end))
            round_trip(ana, "after zed")
            assert.is_true(zed:wait(function()
                local last = zed:messages()[#zed:messages()]
                return last and last.event == "new_msg"
            end))
            assert.equal(1, #presences())
            assert.same({ "ana", "zed" }, presences()[1].users)
            assert.equal(2, #ana:of_type("presence"))
            assert.same({ "ana", "zed" }, ana:of_type("presence")[2].message.users)
        end)
    end)

    it("names an SSE stream by ?user=, ?alias= or ?as=, and says so when it has none", function()
        local alice = join("names", "alice")
        assert.truthy(async.wait_for(function() return presence_is(alice, { "alice" }) end))
        local streams = {}
        for _, q in ipairs({ "user=ulla", "alias=bob", "as=cat" }) do
            local st = http.open(app.port, "GET", "/sse/room:names?" .. q)
            streams[#streams + 1] = st
            assert.is_true(st:wait(function(x) return x.status ~= nil end))
            assert.equal(200, st.status)
        end
        assert.truthy(async.wait_for(function()
            return presence_is(alice, { "alice", "bob", "cat", "ulla" })
        end))
        local refused = http.request(app.port, "GET", "/sse/room:names?user=")
        assert.equal(403, refused.status)
        assert.same({ error = "user required: add ?user=NAME (or ?alias=NAME, ?as=NAME) to the URL" },
            refused.json)
        for _, st in ipairs(streams) do
            st:close()
        end
        assert.truthy(async.wait_for(function() return presence_is(alice, { "alice" }) end))
    end)

    it("lets an SSE stream that names nobody watch a room without being listed", function()
        local alice = join("watched", "alice")
        assert.truthy(async.wait_for(function() return presence_is(alice, { "alice" }) end))
        local watcher = http.open(app.port, "GET", "/sse/room:watched")
        assert.is_true(watcher:wait(function(x) return x.status ~= nil end))
        assert.equal(200, watcher.status)
        assert.truthy(async.wait_for(function() return app.hub:connection_count("room:watched") == 2 end))
        alice.c:send({ type = "new_msg", body = "anyone there?" })
        assert.is_true(watcher:wait(function(x)
            local last = x:messages()[#x:messages()]
            return last and last.event == "new_msg"
        end))
        assert.same({ user = "alice", body = "anyone there?" },
            json.decode(watcher:messages()[#watcher:messages()].data))
        -- nobody was told of the watcher, and it is in no list
        assert.equal(1, #async.of_type(alice, "presence"))
        assert.same({ "alice" }, app.hub:presence("room:watched"))
        assert.same({}, app.hub:presence_state("room:watched"))
        watcher:close()
        assert.truthy(async.wait_for(function() return app.hub:connection_count("room:watched") == 1 end))
        alice.c:send({ type = "new_msg", body = "guess not" })
        assert.truthy(async.wait_for(function()
            return #async.of_type(alice, "new_msg", function(e) return e.body == "guess not" end) == 1
        end))
        assert.equal(1, #async.of_type(alice, "presence"))
    end)

    it("broadcasts new_msg {user, body} to the whole room, sender included, and nothing raw", function()
        local alice = join("talk", "alice")
        local bob = join("talk", "bob")
        assert.truthy(async.wait_for(function() return presence_is(alice, { "alice", "bob" }) end))
        bob.c:send({ type = "new_msg", body = "hello" })
        local function got(rec)
            return #async.of_type(rec, "new_msg", function(e) return e.body == "hello" end) == 1
        end
        assert.truthy(async.wait_for(function() return got(alice) and got(bob) end))
        local m = async.last(alice, "new_msg")
        assert.same({ user = "bob", body = "hello" }, m.message)
        -- the raw envelope {uid, alias, message} was not relayed as well
        for _, e in ipairs(alice.events) do
            assert.is_not_nil(e.type)
        end
        -- a bad message is answered with an error, not relayed
        bob.c:send({ type = "new_msg", body = "" })
        assert.truthy(async.wait_for(function() return async.last(bob, "error") end))
        assert.equal("body required", async.last(bob, "error").message)
    end)

    it("shows typing to the others only, and clears it", function()
        local alice = join("keys", "alice")
        local bob = join("keys", "bob")
        assert.truthy(async.wait_for(function() return presence_is(alice, { "alice", "bob" }) end))
        alice.c:send({ type = "typing", typing = true })
        assert.truthy(async.wait_for(function() return async.last(bob, "typing") end))
        assert.same({ user = "alice", typing = true }, async.last(bob, "typing").message)
        assert.same({ "alice" }, app.hub:typing("room:keys"))
        alice.c:send({ type = "typing", typing = false })
        assert.truthy(async.wait_for(function()
            return async.last(bob, "typing").typing == false
        end))
        assert.same({}, app.hub:typing("room:keys"))
        assert.equal(0, #async.of_type(alice, "typing"))
    end)

    it("clears a typing flag that was not refreshed, and tells the others", function()
        app:close()
        app = assert(chat.start({ port = 0, bot = false, typing_ttl = 0.2 }))
        local alice = join("idle", "alice")
        local bob = join("idle", "bob")
        assert.truthy(async.wait_for(function() return presence_is(alice, { "alice", "bob" }) end))
        alice.c:send({ type = "typing", typing = true })
        assert.truthy(async.wait_for(function() return async.last(bob, "typing") end))
        assert.is_true(async.last(bob, "typing").typing)
        assert.truthy(async.wait_for(function() return async.last(bob, "typing").typing == false end, 2))
        assert.same({}, app.hub:typing("room:idle"))
    end)

    it("has a bot in room:lobby that answers /time", function()
        local alice = join("lobby", "alice")
        assert.truthy(async.wait_for(function() return presence_is(alice, { "alice", "bot" }) end))
        alice.c:send({ type = "new_msg", body = "/time" })
        assert.truthy(async.wait_for(function()
            return #async.of_type(alice, "new_msg", function(e) return e.user == "bot" end) > 0
        end))
        local answer = async.of_type(alice, "new_msg", function(e) return e.user == "bot" end)[1]
        assert.truthy(answer.body:match("^It is %d%d:%d%d:%d%d UTC$"))
        -- plain itty clients asking with a bare string get an answer too
        local plain = async.client(app.port, "/c/room:lobby", {})
        clients[#clients + 1] = plain
        assert.truthy(async.wait_for(function() return plain.opened end))
        plain.c:send("/time")
        assert.truthy(async.wait_for(function()
            return #async.of_type(plain, "new_msg", function(e) return e.user == "bot" end) > 0
        end))
    end)

    it("serves room:<name> to the Lua Phoenix client, with native pages in the same room", function()
        if not sb.phoenix then
            pending("the Phoenix endpoint and sb.phoenix are not in this build yet")
            return
        end
        local alice = join("lobby", "alice")
        assert.truthy(async.wait_for(function() return alice.opened end))
        local sock = sb.phoenix.socket(("ws://127.0.0.1:%d/socket"):format(app.port), {})
        sock:connect()
        local got, status = {}, {}
        local ch = sock:channel("room:lobby", { user = "carol" })
        ch:on("new_msg", function(p) got[#got + 1] = p end)
        ch:on("typing", function(p) got[#got + 1] = { typing = p } end)
        ch:join():receive("ok", function(r) status.join = r end)
        sock:channel("room:other", {}):join():receive("error", function(r) status.refused = r end)
        assert.truthy(async.wait_for(function() return status.join and status.refused end))
        assert.same({ user = "carol" }, status.join)
        assert.same({ reason = 'user required: join with params {"user": NAME}' }, status.refused)
        -- the native page lists carol by her user name
        assert.truthy(async.wait_for(function() return presence_is(alice, { "alice", "bot", "carol" }) end))

        ch:push("new_msg", { body = "/time" }):receive("ok", function(r) status.push = r end)
        assert.truthy(async.wait_for(function() return status.push and #got >= 2 end))
        assert.same({ user = "carol", body = "/time" }, got[1])
        assert.equal("bot", got[2].user)
        assert.truthy(async.wait_for(function()
            return #async.of_type(alice, "new_msg", function(e) return e.user == "carol" end) == 1
        end))

        alice.c:send({ type = "typing", typing = true })
        assert.truthy(async.wait_for(function() return got[#got].typing end))
        assert.same({ user = "alice", typing = true }, got[#got].typing)
        ch:push("typing", { typing = true })
        assert.truthy(async.wait_for(function()
            local t = async.last(alice, "typing")
            return t and t.user == "carol"
        end))

        ch:leave()
        assert.truthy(async.wait_for(function() return presence_is(alice, { "alice", "bot" }) end))
        if sock.disconnect then
            sock:disconnect()
        end
    end)

    describe("room rules for Phoenix clients", function()
        -- a Phoenix connection as the handlers see it; the socket side is
        -- another engineer's, so the handlers are called directly here
        local function phoenix_conn()
            return { protocol = "phoenix", assigns = {}, id = 1 }
        end

        it("refuses a join without user", function()
            local h = app.server:handler_for("room:x")
            local ok, reason = h.join(phoenix_conn(), "room:x", {})
            assert.is_nil(ok)
            assert.equal('user required: join with params {"user": NAME}', reason)
            ok, reason = h.join(phoenix_conn(), "room:x", { user = "" })
            assert.is_nil(ok)
            assert.equal('user required: join with params {"user": NAME}', reason)
            assert.same({ user = "carol" }, (h.join(phoenix_conn(), "room:x", { user = "carol" })))
        end)

        it("replies ok to new_msg and broadcasts {user, body} to the room", function()
            local h = app.server:handler_for("room:x")
            local seen = {}
            local listener = app.hub:attach(function(channel, event, payload)
                seen[#seen + 1] = { channel = channel, event = event, payload = payload }
            end)
            app.hub:join("room:x", "dave", listener)
            local conn = phoenix_conn()
            h.join(conn, "room:x", { user = "carol" })
            local reply = h.on.new_msg(conn, "room:x", { body = "hi" })
            assert.truthy(reply)
            assert.truthy(async.wait_for(function() return #seen > 0 end))
            assert.same({ channel = "room:x", event = "new_msg", payload = { user = "carol", body = "hi" } },
                seen[#seen])
            local none, err = h.on.new_msg(conn, "room:x", {})
            assert.is_nil(none)
            assert.equal("body required", err)
            -- typing from a user the hub does not track (no hub:track yet)
            -- still reaches the others
            assert.truthy(h.on.typing(conn, "room:x", { typing = true }))
            assert.truthy(async.wait_for(function() return seen[#seen].event == "typing" end))
            assert.same({ user = "carol", typing = true }, seen[#seen].payload)
            listener:close()
        end)
    end)

    describe("a page that was away", function()
        local raws, streams

        before_each(function()
            raws, streams = {}, {}
        end)

        after_each(function()
            for _, r in ipairs(raws) do
                r:close()
            end
            for _, st in ipairs(streams) do
                st:close()
            end
        end)

        local function native(room, alias, query)
            local r = support.raw(("ws://127.0.0.1:%d/c/room:%s?alias=%s&announce=true%s")
                :format(app.port, room, alias, query or ""))
            raws[#raws + 1] = r
            assert.is_true(support.wait_until(function() return #r:of_type("presence") > 0 end))
            return r
        end

        local function sse(path)
            local st = http.open(app.port, "GET", path)
            streams[#streams + 1] = st
            return st
        end

        local function said(r, body)
            r:send(json.encode({ type = "new_msg", body = body }))
            local got
            assert.is_true(support.wait_until(function()
                for _, f in ipairs(r:of_type("new_msg")) do
                    if f.message.body == body then
                        got = f
                        return true
                    end
                end
            end))
            return got
        end

        it("Phoenix: a join with recover learns its position, the next one gets the new_msg it missed", function()
            local h = app.server:handler_for("room:back")
            local ana = native("back", "ana")
            local first = h.join(phoenix_conn_of(), "room:back", { user = "carol", recover = true })
            assert.matches("^%d+%-%d+$", first.position)
            for _, body in ipairs({ "one", "two", "three" }) do
                said(ana, body)
            end
            -- carol saw "one" before she lost her connection
            local again = h.join(phoenix_conn_of(), "room:back", { user = "carol", since = first.position, seen = 1 })
            assert.are.equal(2, #again.missed)
            assert.are.same({ "ana", "two" }, { again.missed[1].user, again.missed[1].body })
            assert.are.same({ "ana", "three" }, { again.missed[2].user, again.missed[2].body })
            assert.is_number(again.missed[1].date)
            assert.matches("^%d+%-%d+$", again.position)
            assert.are_not.equal(first.position, again.position)
            local bad = h.join(phoenix_conn_of(), "room:back", { user = "carol", since = "yesterday" })
            assert.is_nil(bad.missed)
            assert.are.equal("bad-id", bad.missed_error)
            -- without recover the reply is as before
            assert.are.same({ user = "carol" }, (h.join(phoenix_conn_of(), "room:back", { user = "carol" })))
        end)

        it("SSE: POST speaks for a user in the room, and is refused with the reason otherwise", function()
            local ana = native("post", "ana")
            local zed = sse("/sse/room:post?user=zed")
            assert.is_true(support.wait_until(function() return presence_is_raw(ana, { "ana", "zed" }) end))
            local function post(query, event, body)
                return http.request(app.port, "POST", "/sse/room:post?event=" .. event .. query,
                    { ["Content-Type"] = "application/json" }, json.encode(body))
            end
            local ok = post("&user=zed", "new_msg", { user = "zed", body = "from a stream" })
            assert.are.equal(202, ok.status)
            assert.is_true(support.wait_until(function()
                for _, f in ipairs(ana:of_type("new_msg")) do
                    if f.message.user == "zed" and f.message.body == "from a stream" then
                        return true
                    end
                end
            end))
            assert.are.equal(202, post("&user=zed", "typing", { user = "zed", typing = true }).status)
            assert.is_true(support.wait_until(function()
                local t = ana:of_type("typing")
                return #t > 0 and t[#t].message.user == "zed"
            end))
            local refusals = {
                { "&user=zed", "new_msg", { user = "ana", body = "x" }, "say who you are" },
                { "", "new_msg", { body = "x" }, "say who you are" },
                { "&user=yan", "new_msg", { user = "yan", body = "x" }, "yan is not in room:post" },
                { "&user=zed", "new_msg", { user = "zed", body = "" }, "body must be a string" },
                { "&user=zed", "typing", { user = "zed", typing = "yes" }, "typing must be true or false" },
                { "&user=zed", "kick", { user = "zed" }, "a room takes new_msg and typing" },
                { "&user=zed", "new_msg", { user = "zed", body = "x", admin = true }, "unknown field admin" },
            }
            for _, c in ipairs(refusals) do
                local res = post(c[1], c[2], c[3])
                assert.are.equal(403, res.status)
                assert.matches(c[4], res.json.error, 1, true)
            end
            zed:close()
        end)

        it("SSE: a stream that resumes gets what it missed, then joined, from a new server on the same hub", function()
            local ana = native("again", "ana", "&recover=true")
            local before = said(ana, "before")
            assert.matches("^%d+%-%d+$", before.id)
            local hub = app.hub
            for _, r in ipairs(raws) do
                r:close()
            end
            raws = {}
            app:close()
            support.settle(0.1)
            app = assert(chat.start({ port = 0, hub = hub, bot = false }))
            local ben = native("again", "ben")
            said(ben, "after")
            local zed = sse("/sse/room:again?user=zed&lastEventId=" .. before.id)
            assert.is_true(zed:wait(function()
                for _, ev in ipairs(zed:messages()) do
                    if ev.event == "joined" then
                        return true
                    end
                end
            end))
            local seen = {}
            for _, ev in ipairs(zed:messages()) do
                if ev.event == "new_msg" then
                    seen[#seen + 1] = json.decode(ev.data).body
                elseif ev.event == "joined" then
                    seen[#seen + 1] = "(joined)"
                    assert.matches("^%d+%-%d+$", json.decode(ev.data).position)
                    break
                end
            end
            assert.are.same({ "after", "(joined)" }, seen)
        end)
    end)
end)
