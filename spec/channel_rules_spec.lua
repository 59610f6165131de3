-- Per-channel publish permission (issue 8, itty's sendKey): listen-only
-- channels, send keys and a publish function, for native clients, Phoenix
-- clients and POST /sse/<channel>.  A refused client hears why and nothing
-- is delivered (the other clients' frames are counted); the server's own
-- hub:publish always goes out.
local sb = require "switchboard"
local json = require "switchboard.json"
local support = require "support"
local H = require "phx_helper"
local http = require "http_helper"

local raw, wait_until = support.raw, support.wait_until

local RULES = {
    ["ticker:*"] = { publish = false },
    news = { send_key = "k3y" },
    ["room:*"] = {
        publish = function(conn, channel, msg, info)
            if type(msg) == "table" and msg.text == "spam" then
                return false, "no spam in " .. channel
            end
            if info.protocol == "sse" and info.req.query.token ~= "poster" then
                return false, "posting needs a token"
            end
            return conn == nil or conn.assigns.muted ~= true, "muted"
        end,
    },
}

describe("channel publish rules", function()
    local server

    before_each(function()
        server = assert(sb.listen{ port = 0, channels = RULES })
        server:channel("ticker:*", {
            on = { shout = function(_, topic, payload)
                server.hub:publish(topic, "shout", payload)   -- never reached
                return {}
            end },
        })
        server:channel("news", { on = { shout = function() return {} end } })
        server:channel("room:*", { on = { shout = function() return { ok = 1 } end } })
    end)

    after_each(function()
        server:close()
        support.settle(0.02)
    end)

    -- Native client: waits for its own join.
    local function native(path)
        local c = raw(server:url(path))
        c:wait_frames(1)
        return c
    end

    local function messages(c)
        local out = {}
        for _, f in ipairs(c.frames) do
            if type(f) == "table" and f.type == nil then
                out[#out + 1] = f.message
            end
        end
        return out
    end

    it("native: the publish function gets the message decoded and a direct message's uid", function()
        local seen = {}
        local s2 = assert(sb.listen{ port = 0, channels = { ["dm:*"] = {
            publish = function(_, _, msg, info)
                seen[#seen + 1] = { msg = msg, to = info.to }
                return true
            end } } })
        local a = raw(s2:url("/c/dm:1"))
        a:wait_frames(1)
        local b = raw(s2:url("/c/dm:1"))
        b:wait_frames(1)
        a:send('{"text":"all","n":[1,null]}')
        a:send('\31' .. b.frames[1].uid .. '\31{"text":"psst"}')
        a:send('@@' .. b.frames[1].uid .. '@@"legacy"')
        assert.is_true(wait_until(function() return #seen == 3 end))
        assert.same({ text = "all", n = { 1, json.null } }, seen[1].msg)
        assert.is_nil(seen[1].to)
        assert.same({ { text = "psst" }, b.frames[1].uid }, { seen[2].msg, seen[2].to })
        assert.same({ "legacy", b.frames[1].uid }, { seen[3].msg, seen[3].to })
        s2:close()
    end)

    it("native: a listen-only channel answers every send with an error event and relays nothing", function()
        local talker = native("/c/ticker:1?echo=true")
        local other = native("/c/ticker:1")
        talker:send('{"text":"hi"}')
        talker:send('\31' .. other.frames[1].uid .. '\31{"text":"psst"}')
        assert.is_true(wait_until(function() return #talker:of_type("error") == 2 end))
        local errors = talker:of_type("error")
        assert.same("publish not allowed: ticker:1 is listen-only", errors[1].message)
        assert.same("publish not allowed: ticker:1 is listen-only", errors[2].message)
        assert.same(2, server.hub:publish("ticker:1", "message", "from the server"))
        assert.is_true(wait_until(function() return #messages(other) == 1 end))
        assert.same({ "from the server" }, messages(other))
        assert.same({ "from the server" }, messages(talker))
        support.settle(0.1)
        assert.same(2, #other.frames)   -- its join and the server's message
        talker:close() other:close()
    end)

    it("native: a send key lets its holders publish; without it or wrong, an error event", function()
        local holder = native("/c/news?sendKey=k3y")
        local nokey = native("/c/news")
        local wrong = native("/c/news?sendKey=k3x")
        holder:send('"breaking"')
        nokey:send('"fake"')
        wrong:send('"fake too"')
        assert.is_true(wait_until(function()
            return #nokey:of_type("error") == 1 and #wrong:of_type("error") == 1
        end))
        assert.same("publish not allowed: news needs a send key", nokey:of_type("error")[1].message)
        assert.same("publish not allowed: wrong send key", wrong:of_type("error")[1].message)
        assert.is_true(wait_until(function() return #messages(nokey) == 1 and #messages(wrong) == 1 end))
        assert.same({ "breaking" }, messages(nokey))
        assert.same({ "breaking" }, messages(wrong))
        support.settle(0.1)
        assert.same({}, messages(holder))
        holder:close() nokey:close() wrong:close()
    end)

    it("native: a publish function refuses one message with its reason and lets the next through", function()
        local a = native("/c/room:7")
        local b = native("/c/room:7")
        a:send('{"text":"spam"}')
        a:send('{"text":"ham"}')
        assert.is_true(wait_until(function() return #a:of_type("error") == 1 end))
        assert.same("no spam in room:7", a:of_type("error")[1].message)
        assert.is_true(wait_until(function() return #messages(b) == 1 end))
        assert.same({ { text = "ham" } }, messages(b))
        support.settle(0.1)
        assert.same(1, #messages(b))
        a:close() b:close()
    end)

    -- A joined Phoenix client; returns it with its next frame number.
    local function phoenix(topic, params)
        local c = H.open(server.port)
        c:send(json.encode({ "1", "1", topic, "phx_join", params or {} }))
        local reply = json.decode(c:frame(1))
        assert.same("ok", reply[5].status)
        c:frame(2)   -- presence_state
        return c
    end

    it("phoenix: events on a listen-only topic get an error reply and never reach the handler", function()
        local p = phoenix("ticker:1")
        local watcher = native("/c/ticker:1")
        p:send('["1","2","ticker:1","shout",{"text":"hi"}]')
        local reply = json.decode(p:frame(3))
        assert.same({ "1", "2", "ticker:1", "phx_reply",
            { status = "error", response = { reason = "publish not allowed: ticker:1 is listen-only" } } },
            reply)
        server.hub:publish("ticker:1", "tick", { n = 1 })
        local tick = json.decode(p:frame(4))
        assert.same({ "tick", { n = 1 } }, { tick[4], tick[5] })
        assert.is_true(wait_until(function() return #watcher.frames == 2 end))
        assert.same("tick", watcher.frames[2].type)
        p:close() watcher:close()
    end)

    it("phoenix: the send key comes with the join params", function()
        local holder = phoenix("news", { sendKey = "k3y" })
        local nokey = phoenix("news")
        holder:send('["1","2","news","shout",{}]')
        nokey:send('["1","2","news","shout",{}]')
        assert.same("ok", json.decode(holder:frame(3))[5].status)
        assert.same({ status = "error", response = { reason = "publish not allowed: news needs a send key" } },
            json.decode(nokey:frame(3))[5])
        holder:close() nokey:close()
    end)

    it("phoenix: the publish function sees the payload and the event", function()
        local p = phoenix("room:3")
        p:send('["1","2","room:3","shout",{"text":"spam"}]')
        p:send('["1","3","room:3","shout",{"text":"ham"}]')
        assert.same({ status = "error", response = { reason = "no spam in room:3" } }, json.decode(p:frame(3))[5])
        assert.same({ status = "ok", response = { ok = 1 } }, json.decode(p:frame(4))[5])
        p:close()
    end)

    it("POST /sse: 403 with the reason for listen-only, keyless and refused posts; 202 otherwise", function()
        local stream = http.open(server.port, "GET", "/sse/ticker:1")
        assert.is_true(stream:wait(function(x) return x.status == 200 end))
        local r = http.request(server.port, "POST", "/sse/ticker:1", {}, '{"text":"x"}')
        assert.same({ 403, "publish not allowed: ticker:1 is listen-only" }, { r.status, r.json.error })
        r = http.request(server.port, "POST", "/sse/news", {}, '"x"')
        assert.same({ 403, "publish not allowed: news needs a send key" }, { r.status, r.json.error })
        r = http.request(server.port, "POST", "/sse/news?sendKey=nope", {}, '"x"')
        assert.same({ 403, "publish not allowed: wrong send key" }, { r.status, r.json.error })
        r = http.request(server.port, "POST", "/sse/news?sendKey=k3y", {}, '"x"')
        assert.same(202, r.status)
        r = http.request(server.port, "POST", "/sse/room:1", {}, '{"text":"hi"}')
        assert.same({ 403, "posting needs a token" }, { r.status, r.json.error })
        r = http.request(server.port, "POST", "/sse/room:1?token=poster", {}, '{"text":"hi"}')
        assert.same(202, r.status)
        server.hub:publish("ticker:1", "tick", { n = 1 })
        assert.is_true(stream:wait(function(x) return #x:messages() == 1 end))
        assert.same({ "tick", '{"n":1}' }, { stream:messages()[1].event, stream:messages()[1].data })
        support.settle(0.1)
        stream:pump()
        assert.same(1, #stream:messages())
        stream:close()
    end)

    it("refuses malformed rules with clear errors", function()
        local function listen(channels)
            return function() sb.listen{ port = 0, channels = channels } end
        end
        assert.has_error(listen("ticker"),
            "switchboard.listen: option 'channels' must be a table of pattern = "
            .. "{ publish =, send_key =, history =, watchers = }, got \"ticker\"")
        assert.has_error(listen({ ticker = { watchers = "yes" } }),
            "switchboard.listen: option 'channels.ticker.watchers' must be true or false, got \"yes\"")
        assert.has_error(listen({ ticker = { publish = "no" } }),
            "switchboard.listen: option 'channels.ticker.publish' must be "
            .. "true, false or function(conn, channel, msg, info), got \"no\"")
        assert.has_error(listen({ ticker = { sendkey = "x" } }),
            "switchboard.listen: unknown option 'channels.ticker.sendkey' (did you mean 'channels.ticker.send_key'?)")
        assert.has_error(listen({ ticker = { send_key = "" } }),
            "switchboard.listen: option 'channels.ticker.send_key' must be a non-empty string, got \"\"")
        assert.has_error(listen({ ticker = { publish = false, send_key = "k" } }))
    end)

    it("takes history per pattern from channels too", function()
        server:close()
        -- short ttls: the channels are gone again when the spec ends (a
        -- closed server's hub outlives the process under valgrind, and
        -- channels left in it read as a leak there)
        server = assert(sb.listen{ port = 0, history = 1, history_ttl = 0.3,
            channels = { ["log:*"] = { history = { count = 2, ttl = 0.3 } } } })
        local hub = server.hub
        for i = 1, 3 do
            hub:publish("log:a", "message", i)
            hub:publish("other", "message", i)
        end
        local function replayed(channel, after)
            local epoch = hub:position(channel)
            local got = {}
            if not hub:replay(channel, epoch, after, function(m) got[#got + 1] = m end) then
                return nil
            end
            return #got
        end
        assert.same({ 2, nil }, { replayed("log:a", 1), replayed("log:a", 0) })
        assert.same({ 1, nil }, { replayed("other", 2), replayed("other", 1) })
        support.settle(0.4)
        hub:tick()
        assert.same({ 0, 0 }, { hub:position("log:a") })
        assert.same({ 0, 0 }, { hub:position("other") })
        assert.has_error(function()
            sb.listen{ port = 0, history = { ["log:*"] = 1 }, channels = { ["log:*"] = { history = 2 } } }
        end, 'switchboard.listen: history for "log:*" is given twice (history and channels)')
    end)

end)
