-- The Pusher HTTP API (docs/pusher-http.md): /apps/<id>/... on the
-- server's own port, signed as Pusher's libraries sign, checked on the
-- wire with raw HTTP (spec/http_helper.lua) and native clients in the
-- channels it publishes to and reads.
local sb = require "switchboard"
local cjson = require "cjson"
local http = require "http_helper"
local support = require "support"
local sign = require "pusher_sign"

local wait_until = support.wait_until
local core = sb.core

local APP, KEY, SECRET = "4242", "app-key-1", "app-secret-1"
local APP_T = { id = APP, key = KEY, secret = SECRET }

describe("Pusher HTTP API", function()
    local server, port
    local ids = {}   -- ?name= of a native client -> its hub connection id

    setup(function()
        server = assert(sb.listen{ port = 0, pusher = { app_id = APP, key = KEY, secret = SECRET } })
        port = server.port
        -- with pusher on, native clients reach presence- channels only
        -- through a join handler (docs/pusher.md#security)
        server:channel("presence-*", { join = function() return true end })
        server:on("connect", function(conn, req)
            conn.member = req.query.user or conn.member
            if req.query.name then
                ids[req.query.name] = conn.id
            end
        end)
    end)

    teardown(function()
        server:close()
        support.settle(0.05)
    end)

    -- One call: status, decoded JSON (or nil) and the response.
    local function call(method, sub, params, body, o)
        return sign.call(port, APP_T, method, sub, params, body, o)
    end

    local function native(path)
        local c = support.raw(server:url(path))
        assert.is_true(c:wait_open())
        return c
    end

    local function close_all(list)
        for _, c in ipairs(list) do
            c:close()
        end
        support.settle(0.05)
    end

    describe("publishing", function()
        it("a trigger reaches native clients: the name is the event, JSON data the message", function()
            local a, b = native("/c/news"), native("/c/sports")
            local status, body = call("POST", "/events",
                nil, { name = "update", channels = { "news", "sports" }, data = '{"x":1,"s":"two"}' })
            assert.equal(200, status)
            assert.same({}, body)
            assert.is_true(wait_until(function() return #a:of_type("update") > 0 and #b:of_type("update") > 0 end))
            assert.same({ x = 1, s = "two" }, a:of_type("update")[1].message)
            assert.same({ x = 1, s = "two" }, b:of_type("update")[1].message)
            -- data that is no JSON arrives as the string it was
            status = call("POST", "/events", nil, { name = "update", channel = "news", data = "plain text" })
            assert.equal(200, status)
            assert.is_true(wait_until(function() return #a:of_type("update") == 2 end))
            assert.equal("plain text", a:of_type("update")[2].message)
            -- the event "message" is the native envelope from the server
            status = call("POST", "/events", nil, { name = "message", channel = "news", data = '"hi"' })
            assert.equal(200, status)
            assert.is_true(wait_until(function()
                for _, f in ipairs(a.frames) do
                    if type(f) == "table" and f.uid == "server" and f.message == "hi" then
                        return true
                    end
                end
            end))
            close_all({ a, b })
        end)

        it("answers the channels' attributes that info asks for", function()
            local a = native("/c/presence-room?user=ana")
            local status, body = call("POST", "/events", nil, { name = "e", channel = "presence-room",
                data = "{}", info = "subscription_count,user_count" })
            assert.equal(200, status)
            assert.same({ channels = { ["presence-room"] = { subscription_count = 1, user_count = 1 } } }, body)
            local _, r
            status, _, r = call("POST", "/events", nil, { name = "e", channel = "news",
                data = "{}", info = "user_count" })
            assert.equal(400, status)
            assert.matches("only available for presence channels", r.body)
            close_all({ a })
        end)

        it("a batch publishes each of its events, and refuses more than 10", function()
            local a, b = native("/c/b1"), native("/c/b2")
            local status, body = call("POST", "/batch_events", nil, { batch = {
                { channel = "b1", name = "one", data = '{"n":1}' },
                { channel = "b2", name = "two", data = "2" },
                { channel = "b1", name = "three", data = "three" },
            } })
            assert.equal(200, status)
            assert.same({}, body)
            assert.is_true(wait_until(function() return #a:of_type("three") > 0 and #b:of_type("two") > 0 end))
            assert.same({ n = 1 }, a:of_type("one")[1].message)
            assert.equal(2, b:of_type("two")[1].message)
            local many = {}
            for i = 1, 11 do
                many[i] = { channel = "b1", name = "x", data = "{}" }
            end
            status = call("POST", "/batch_events", nil, { batch = many })
            assert.equal(400, status)
            -- one bad item and nothing is published
            status = call("POST", "/batch_events", nil, { batch = {
                { channel = "b1", name = "never", data = "{}" }, { channel = "b1", name = "x" } } })
            assert.equal(400, status)
            support.settle(0.1)
            assert.equal(0, #a:of_type("never"))
            close_all({ a, b })
        end)

        it("leaves out the connection socket_id names", function()
            local a, b = native("/c/ex?name=ex-a"), native("/c/ex?name=ex-b")
            local status = call("POST", "/events", nil,
                { name = "e", channel = "ex", data = '"x"', socket_id = ("123.%d"):format(ids["ex-a"]) })
            assert.equal(200, status)
            assert.is_true(wait_until(function() return #b:of_type("e") > 0 end))
            support.settle(0.1)
            assert.equal(0, #a:of_type("e"))
            status = call("POST", "/events", nil, { name = "e", channel = "ex", data = "{}", socket_id = "abc" })
            assert.equal(400, status)
            close_all({ a, b })
        end)
    end)

    describe("queries", function()
        it("lists occupied channels, with user_count for a presence- prefix", function()
            local list = { native("/c/presence-q?user=ana"), native("/c/presence-q?user=ana"),
                native("/c/presence-q?user=bob"), native("/c/plain-q") }
            local status, body = call("GET", "/channels", { filter_by_prefix = "presence-", info = "user_count" })
            assert.equal(200, status)
            assert.same({ channels = { ["presence-q"] = { user_count = 2 } } }, body)
            status, body = call("GET", "/channels")
            assert.equal(200, status)
            assert.same({}, body.channels["plain-q"])
            assert.is_table(body.channels["presence-q"])
            status = call("GET", "/channels", { info = "user_count" })
            assert.equal(400, status)
            -- one channel: occupied and its counts
            status, body = call("GET", "/channels/presence-q", { info = "user_count,subscription_count" })
            assert.equal(200, status)
            assert.same({ occupied = true, user_count = 2, subscription_count = 3 }, body)
            status, body = call("GET", "/channels/nobody-here")
            assert.equal(200, status)
            assert.same({ occupied = false }, body)
            status = call("GET", "/channels/plain-q", { info = "user_count" })
            assert.equal(400, status)
            -- the members of a presence channel, and only of one
            status, body = call("GET", "/channels/presence-q/users")
            assert.equal(200, status)
            assert.same({ users = { { id = "ana" }, { id = "bob" } } }, body)
            local _, r
            status, _, r = call("GET", "/channels/plain-q/users")
            assert.equal(400, status)
            assert.matches("presence channels", r.body)
            close_all(list)
        end)
    end)

    describe("refusals", function()
        it("answers 401 to a bad signature, a stale timestamp, another key or a body_md5 that lies", function()
            local body = cjson.encode({ name = "e", channel = "c", data = "{}" })
            local status, _, r = call("POST", "/events", nil, body, { secret = "guess" })
            assert.equal(401, status)
            assert.matches("^Invalid signature", r.body)
            assert.matches("POST\\n/apps/" .. APP .. "/events\\n", r.body, 1, true)
            assert.is_nil(r.body:find(SECRET, 1, true))
            status, _, r = call("POST", "/events", nil, body, { timestamp = os.time() - 700 })
            assert.equal(401, status)
            assert.matches("^Timestamp expired", r.body)
            status, _, r = call("POST", "/events", nil, body, { key = "other-key" })
            assert.equal(401, status)
            assert.equal("Unknown auth_key", r.body)
            status, _, r = call("POST", "/events", nil, body, { body_md5 = core.md5_hex("{}") })
            assert.equal(401, status)
            assert.matches("^Invalid body_md5", r.body)
            status = call("POST", "/events", nil, body, { body_md5 = false })
            assert.equal(401, status)
            -- unsigned
            r = http.request(port, "GET", "/apps/" .. APP .. "/channels")
            assert.equal(401, r.status)
            assert.matches("text/plain", r.headers["content-type"])
        end)

        it("answers 404 to another app id or an unknown path, 400 to bad requests", function()
            local status, _, r = call("GET", "/channels", nil, nil, { app = "999" })
            assert.equal(404, status)
            assert.matches("Unknown app", r.body)
            status = call("GET", "/nothing")
            assert.equal(404, status)
            status, _, r = call("POST", "/events", nil, "{not json")
            assert.equal(400, status)
            assert.matches("^Invalid JSON", r.body)
            local many = {}
            for i = 1, 101 do
                many[i] = "c" .. i
            end
            status, _, r = call("POST", "/events", nil, { name = "e", channels = many, data = "{}" })
            assert.equal(400, status)
            assert.matches("1%.%.100", r.body)
            status = call("POST", "/events", nil, { name = "e", channel = "c", data = { x = 1 } })
            assert.equal(400, status)
            status = call("POST", "/events", nil, { name = "e", channel = "bad channel!", data = "{}" })
            assert.equal(400, status)
            status = call("GET", "/events")
            assert.equal(405, status)
            -- and the server goes on
            status = call("GET", "/channels")
            assert.equal(200, status)
        end)
    end)
end)

describe("Pusher HTTP API option", function()
    it("is checked up front", function()
        assert.has_error(function() sb.listen{ port = 0, pusher = { app_id = "1", key = "k" } } end,
            "switchboard.listen: option 'pusher.secret' is required (the non-empty secret of the signatures)")
        assert.has_error(function()
            sb.listen{ port = 0, pusher = { app_id = "a/b", key = "k", secret = "s" } }
        end)
        assert.has_error(function()
            sb.listen{ port = 0, webhooks = { url = "http://127.0.0.1:1/h", format = "pusher" } }
        end)
    end)

    it("leaves /apps/ to the static files when it is not set", function()
        local server = assert(sb.listen{ port = 0 })
        local r = http.request(server.port, "GET", "/apps/1/channels")
        assert.equal(404, r.status)
        assert.is_nil(r.body:find("Unknown app", 1, true))
        server:close()
    end)
end)
