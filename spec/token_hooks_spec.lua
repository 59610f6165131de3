-- sb.token in the hooks an app authorizes with (issue 8): per-channel
-- claims checked in a native connect hook and in a Phoenix join handler,
-- and a claim that makes a member listen-only through the channel's
-- publish function.  The README's "Auth with tokens" shows the same code.
local sb = require "switchboard"
local json = require "switchboard.json"
local support = require "support"
local H = require "phx_helper"

local token = sb.token
local SECRET = "room-secret"

-- Does the token's `channels` claim (a list of names) allow channel?
local function allows(claims, channel)
    for _, c in ipairs(type(claims.channels) == "table" and claims.channels or {}) do
        if c == channel then
            return true
        end
    end
    return false
end

-- Verifies a token for one channel: claims, or nil and why.
local function authorize(tok, channel)
    local claims, err = token.verify(tok, SECRET)
    if not claims then
        return nil, err
    end
    if not allows(claims, channel) then
        return nil, "token does not allow " .. channel
    end
    return claims
end

local function start()
    local server = assert(sb.listen{ port = 0, channels = {
        ["room:*"] = { publish = function(conn) return not conn.assigns.reader, "readers cannot post" end },
    } })
    -- native: one channel per connection, so the connect hook decides
    server:on("connect", function(conn, req)
        if conn.protocol ~= "native" then
            return
        end
        local claims, err = authorize(req.query.token, conn.channel)
        if not claims then
            return false, err, err:find("does not allow", 1, true) and 403 or 401
        end
        conn.member = claims.sub
        conn.assigns.reader = claims.role == "reader"
    end)
    -- Phoenix: one socket, many topics, so each join decides
    server:channel("room:*", {
        join = function(conn, topic, params)
            local claims, err = authorize(params.token, topic)
            if not claims then
                return nil, err
            end
            conn.assigns.reader = claims.role == "reader"
            server.hub:track(conn, topic, claims.sub, {})
            return { user = claims.sub }
        end,
        on = { post = function(_, topic, payload)
            server.hub:publish(topic, "post", payload)
            return {}
        end },
    })
    return server
end

describe("tokens in hooks", function()
    local server

    before_each(function()
        server = start()
    end)

    after_each(function()
        server:close()
        support.settle(0.02)
    end)

    local UP = "HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        .. "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

    it("native connect hook: a token for room:1 opens room:1 only", function()
        local t = token.sign({ sub = "ann", channels = { "room:1" } }, SECRET, { ttl = 60 })
        local status, _, body = support.http(server.port, "GET /c/room:2?token=" .. t .. " " .. UP)
        assert.same({ 403, true }, { status, body:find("token does not allow room:2", 1, true) ~= nil })
        local old = token.sign({ sub = "ann", channels = { "room:1" } }, SECRET, { ttl = 1, now = 1000 })
        status, _, body = support.http(server.port, "GET /c/room:1?token=" .. old .. " " .. UP)
        assert.same({ 401, true }, { status, body:find("token expired", 1, true) ~= nil })
        local ann = support.raw(server:url("/c/room:1?token=" .. t))
        local bob = support.raw(server:url("/c/room:1?token="
            .. token.sign({ sub = "bob", channels = { "room:1", "room:2" } }, SECRET, { ttl = 60 })))
        assert.is_true(ann:wait_open() and bob:wait_open())
        assert.is_true(support.wait_until(function()
            return server.hub:is_present("room:1", "ann") and server.hub:is_present("room:1", "bob")
        end))
        bob:wait_frames(1)
        ann:send('"hi bob"')
        assert.same("hi bob", bob:wait_frames(2)[2].message)
        ann:close() bob:close()
    end)

    it("native: a reader's token lets it listen but not post", function()
        local reader = support.raw(server:url("/c/room:1?token="
            .. token.sign({ sub = "rita", role = "reader", channels = { "room:1" } }, SECRET)))
        local writer = support.raw(server:url("/c/room:1?token="
            .. token.sign({ sub = "will", channels = { "room:1" } }, SECRET)))
        assert.is_true(reader:wait_open() and writer:wait_open())
        reader:send('"let me in"')
        writer:send('"news"')
        assert.is_true(support.wait_until(function() return #reader:of_type("error") == 1 end))
        assert.same("readers cannot post", reader:of_type("error")[1].message)
        assert.is_true(support.wait_until(function()
            for _, f in ipairs(reader.frames) do
                if f.message == "news" then return true end
            end
        end))
        support.settle(0.1)
        for _, f in ipairs(writer.frames) do
            assert.are_not.equal("let me in", f.message)
        end
        reader:close() writer:close()
    end)

    it("Phoenix join handler: the same token joins room:1 and is refused room:2", function()
        local t = token.sign({ sub = "ann", channels = { "room:1" } }, SECRET, { ttl = 60 })
        local c = H.open(server.port)
        c:send(json.encode({ "1", "1", "room:1", "phx_join", { token = t } }))
        c:send(json.encode({ "2", "2", "room:2", "phx_join", { token = t } }))
        c:send(json.encode({ "3", "3", "room:3", "phx_join", {} }))
        local forged = token.sign({ sub = "eve", channels = { "room:4" } }, "guessed")
        c:send(json.encode({ "4", "4", "room:4", "phx_join", { token = forged } }))
        local replies = {}
        assert.truthy(H.wait(function()
            for i = #replies + 1, #c.frames do
                local f = json.decode(c.frames[i].data)
                if f[4] == "phx_reply" then
                    replies[f[3]] = f[5]
                end
            end
            return replies["room:4"] ~= nil
        end))
        assert.same({ status = "ok", response = { user = "ann" } }, replies["room:1"])
        assert.same({ status = "error", response = { reason = "token does not allow room:2" } }, replies["room:2"])
        assert.same({ status = "error", response = { reason = "missing token" } }, replies["room:3"])
        assert.same({ status = "error", response = { reason = "bad signature" } }, replies["room:4"])
        assert.same("ann", support.keys(server.hub:presence_state("room:1")))
        c:close()
    end)

    it("Phoenix: a reader's pushes get an error reply, a writer's reach the room", function()
        local function joined(claims)
            local c = H.open(server.port)
            c:send(json.encode({ "1", "1", "room:1", "phx_join", { token = token.sign(claims, SECRET) } }))
            assert.same("ok", json.decode(c:frame(1))[5].status)
            return c
        end
        local reader = joined({ sub = "rita", role = "reader", channels = { "room:1" } })
        local writer = joined({ sub = "will", channels = { "room:1" } })
        reader:send('["1","2","room:1","post",{"text":"let me in"}]')
        writer:send('["1","2","room:1","post",{"text":"news"}]')
        assert.truthy(H.wait(function()
            return reader:find(function(m) return m[4] == "phx_reply" and m[2] == "2" end)
                and reader:find(function(m) return m[4] == "post" end)
        end))
        assert.same({ status = "error", response = { reason = "readers cannot post" } },
            reader:find(function(m) return m[4] == "phx_reply" and m[2] == "2" end)[5])
        assert.same({ text = "news" }, reader:find(function(m) return m[4] == "post" end)[5])
        H.settle(0.1)
        assert.is_nil(writer:find(function(m) return m[4] == "post" and m[5].text == "let me in" end))
        reader:close() writer:close()
    end)
end)
