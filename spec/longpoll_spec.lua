-- Phoenix over LongPoll on the wire (docs/protocols.md#longpoll): raw HTTP
-- GETs and POSTs as phoenix.js's LongPoll sends them, against the same
-- rooms and hub as the WebSocket path (a WebSocket client shares rooms
-- with the sessions here), the token and status rules, expiry, and bad
-- input.
local sb = require "switchboard"
local json = require "switchboard.json"
local http = require "http_helper"
local H = require "phx_helper"

local BASE = "/socket/longpoll"
local NDJSON = { ["Content-Type"] = "application/x-ndjson" }

-- A server with rooms like the WebSocket specs' and short LongPoll times.
local function start(opts)
    opts = opts or {}
    opts.port = 0
    opts.longpoll = opts.longpoll or { window = 0.6, timeout = 5 }
    local srv = assert(sb.listen(opts))
    srv.seen, srv.closes, srv.reqs = {}, {}, {}
    srv:on("connect", function(conn, req)
        srv.reqs[#srv.reqs + 1] = { query = req.query, token = req.token,
            protocol = conn.protocol, transport = conn.transport }
        if req.query.deny then
            return false, "no entry", 401
        end
        if req.query.user then
            conn.member = req.query.user
        end
    end)
    srv:on("close", function(conn, code)
        srv.closes[#srv.closes + 1] = { transport = conn.transport, code = code }
    end)
    srv:channel("room:*", {
        join = function(conn, topic)
            if topic == "room:secret" then
                return nil, "unauthorized"
            end
            srv.hub:track(conn, topic, conn.member, { via = conn.transport })
            return { welcome = true, transport = conn.transport }
        end,
        leave = function(conn, topic, why)
            srv.seen[#srv.seen + 1] = conn.member .. ":" .. topic .. ":" .. why
        end,
        on = {
            ask = function(_, _, payload)
                if payload.fail then
                    return nil, "no way"
                end
                return { answer = 42 }
            end,
            shout = function(conn, topic, payload)
                srv.hub:publish(topic, "shout", payload, { except = conn })
                return {}
            end,
            upload = function(_, _, payload, info)
                srv.upload = { bytes = payload, binary = info.binary }
                return payload   -- a binary reply: over LongPoll, its status alone
            end,
            bye = function(conn, topic)
                conn:push(topic, "last_words", { n = 1 })
                conn:close(4000, "bye")
                return {}
            end,
        },
    })
    return srv
end

-- Standard base64, as btoa writes it.
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function btoa(s)
    return ((s:gsub(".", function(ch)
        local bits, b = "", ch:byte()
        for i = 8, 1, -1 do
            bits = bits .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0")
        end
        return bits
    end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
        if #x < 6 then
            return ""
        end
        local c = 0
        for i = 1, 6 do
            c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0)
        end
        return B64:sub(c + 1, c + 1)
    end) .. ({ "", "==", "=" })[#s % 3 + 1])
end

local function sorted_keys(t)
    local keys = {}
    for k in pairs(t) do
        keys[#keys + 1] = k
    end
    table.sort(keys)
    return keys
end

-- A LongPoll client at the level of its requests.  got: every message the
-- polls brought, decoded, in order.
local Client = {}
Client.__index = Client

local function lp(srv, query)
    return setmetatable({ port = srv.port, query = query or "vsn=2.0.0", got = {} }, Client)
end

function Client:url()
    return BASE .. "?" .. self.query .. (self.token and ("&token=" .. self.token) or "&")
end

-- The first poll: 410 and a token, the client's "open".
function Client:open()
    local r = http.request(self.port, "GET", self:url(), { Accept = "application/json" })
    assert.equal(200, r.status)
    assert.equal(410, r.json.status)
    assert.is_string(r.json.token)
    self.token = r.json.token
    return r
end

function Client:post(...)
    local r = http.request(self.port, "POST", self:url(), NDJSON, table.concat({ ... }, "\n"))
    return r.json, r
end

-- One poll, waited for; the messages it brought are appended to got.
function Client:poll(timeout)
    local r = http.request(self.port, "GET", self:url(), nil, nil, timeout or 3)
    for _, m in ipairs(r.json and r.json.messages or {}) do
        self.got[#self.got + 1] = json.decode(m)
    end
    return r.json, r
end

-- Polls until pred(got) holds (or the deadline); returns got.
function Client:poll_until(pred, timeout)
    local deadline = sb.now_ms() + (timeout or 3) * 1000
    while not pred(self.got) and sb.now_ms() < deadline do
        self:poll(2)
    end
    return self.got
end

-- The first message so far with this topic and event.
function Client:find(topic, event)
    for _, m in ipairs(self.got) do
        if m[3] == topic and m[4] == event then
            return m
        end
    end
end

local function has(topic, event, n)
    return function(got)
        local k = 0
        for _, m in ipairs(got) do
            if m[3] == topic and m[4] == event then
                k = k + 1
            end
        end
        return k >= (n or 1)
    end
end

describe("Phoenix LongPoll", function()
    local srv, errors

    before_each(function()
        errors = {}
        sb.onerror(function(where, msg) errors[#errors + 1] = where .. ": " .. msg end)
        srv = start()
    end)

    after_each(function()
        srv:close()
        H.settle(0.05)
        sb.onerror(nil)
    end)

    it("opens a session with 410 and a token, after the app's connect hook", function()
        local c = lp(srv, "vsn=2.0.0&user=ann&token=app-secret")
        local r = c:open()
        assert.same({ "messages", "status", "token" }, sorted_keys(r.json))
        assert.matches("^[%w_-]+$", c.token)
        assert.equal(24, #c.token)
        assert.equal("application/json; charset=utf-8", r.headers["content-type"])
        assert.equal("no-store", r.headers["cache-control"])
        assert.equal("*", r.headers["access-control-allow-origin"])
        assert.same({ query = { vsn = "2.0.0", user = "ann", token = "app-secret" },
            protocol = "phoenix", transport = "longpoll" }, srv.reqs[1])
        -- the app's own `token` param and the session's, as the client sends
        -- them: the last one names the session
        c.query = "vsn=2.0.0&user=ann&token=app-secret"
        local got = c:poll()
        assert.equal(204, got.status)
        assert.equal(1, #srv.reqs)
    end)

    it("joins: the reply, then presence_state, then replies and heartbeats come on the next poll", function()
        local c = lp(srv, "vsn=2.0.0&user=ann")
        c:open()
        assert.same({ status = 200 }, c:post('["4","4","room:lobby","phx_join",{}]',
            '[null,"5","phoenix","heartbeat",{}]', '["4","6","room:lobby","ask",{}]',
            '["4","7","room:lobby","ask",{"fail":true}]', '["4","8","room:lobby","nope",{}]'))
        local got, r = c:poll()
        assert.equal(200, got.status)
        assert.equal(c.token, got.token)
        assert.equal(200, r.status)
        assert.same({ "4", "4", "room:lobby", "phx_reply",
            { status = "ok", response = { welcome = true, transport = "longpoll" } } }, c.got[1])
        assert.same({ "4", json.null, "room:lobby", "presence_state" },
            { c.got[2][1], c.got[2][2], c.got[2][3], c.got[2][4] })
        assert.same({ "longpoll" }, { c.got[2][5].ann.metas[1].via })
        assert.equal('[null,"5","phoenix","phx_reply",{"status":"ok","response":{}}]', got.messages[3])
        assert.equal('["4","6","room:lobby","phx_reply",{"status":"ok","response":{"answer":42}}]',
            got.messages[4])
        assert.equal('["4","7","room:lobby","phx_reply",{"status":"error","response":{"reason":"no way"}}]',
            got.messages[5])
        assert.equal('["4","8","room:lobby","phx_reply",{"status":"error","response":'
            .. '{"reason":"unhandled event"}}]', got.messages[6])
        assert.equal(6, #got.messages)
    end)

    it("answers a held poll as soon as a broadcast arrives, from a WebSocket client too", function()
        local c = lp(srv, "vsn=2.0.0&user=ann")
        c:open()
        c:post('["4","4","room:mix","phx_join",{}]')
        c:poll_until(has("room:mix", "presence_state"))
        local ws = H.open(srv.port, "/socket/websocket?vsn=2.0.0&user=bob")
        ws:send('["1","1","room:mix","phx_join",{}]')
        ws:frame(2)
        c:poll_until(has("room:mix", "presence_diff"))
        -- a poll is waiting when bob shouts: it returns at once, not after the window
        local poll = http.open(srv.port, "GET", c:url())
        H.settle(0.1)
        local t0 = sb.now_ms()
        ws:send('["1","2","room:mix","shout",{"x":1}]')
        assert.is_true(poll:wait(function(x) return x.ended end, 2))
        assert.is_true(sb.now_ms() - t0 < 400)
        local body = json.decode(poll.body)
        poll:close()
        assert.equal(200, body.status)
        local msgs = {}
        for _, m in ipairs(body.messages) do msgs[#msgs + 1] = json.decode(m) end
        assert.equal(1, #msgs)
        assert.same({ json.null, json.null, "room:mix", "shout", { x = 1 } }, msgs[1])
        -- and the other way round: the session's shout reaches the WebSocket
        c:post('["4","9","room:mix","shout",{"y":2}]')
        assert.is_truthy(H.wait(function()
            return ws:find(function(m) return m[4] == "shout" and m[5].y == 2 end)
        end))
        ws:close()
    end)

    it("answers a poll with nothing to say 204 after the window, and a newer poll replaces a held one", function()
        local c = lp(srv)
        c:open()
        local t0 = sb.now_ms()
        local got = c:poll()
        local waited = sb.now_ms() - t0
        assert.same({ status = 204, token = c.token, messages = {} }, got)
        assert.is_true(waited >= 500 and waited < 1500, "waited " .. waited .. " ms")
        local first = http.open(srv.port, "GET", c:url())
        H.settle(0.1)
        local second = http.open(srv.port, "GET", c:url())
        assert.is_true(first:wait(function(x) return x.ended end, 1))
        assert.same({ status = 204, token = c.token, messages = {} }, json.decode(first.body))
        assert.is_false(second.ended == true)
        c:post('["1","1","room:r","phx_join",{}]')
        assert.is_true(second:wait(function(x) return x.ended end, 1))
        assert.equal(200, json.decode(second.body).status)
        first:close()
        second:close()
    end)

    it("shares presence with the WebSocket path: diffs, two transports as two metas of one key", function()
        local a = lp(srv, "vsn=2.0.0&user=ann")
        a:open()
        a:post('["4","4","room:pr","phx_join",{}]')
        a:poll_until(has("room:pr", "presence_state"))
        local b = lp(srv, "vsn=2.0.0&user=bob")
        b:open()
        b:post('["2","2","room:pr","phx_join",{}]')
        local ws = H.open(srv.port, "/socket/websocket?vsn=2.0.0&user=bob")
        ws:send('["1","1","room:pr","phx_join",{}]')
        a:poll_until(has("room:pr", "presence_diff", 2))
        local joined = {}
        for _, m in ipairs(a.got) do
            if m[4] == "presence_diff" then
                for key, entry in pairs(m[5].joins) do
                    joined[#joined + 1] = key .. "/" .. entry.metas[1].via
                end
            end
        end
        table.sort(joined)
        assert.same({ "bob/longpoll", "bob/websocket" }, joined)
        assert.same({ "ann", "bob" }, (function()
            local p = srv.hub:presence("room:pr")
            table.sort(p)
            return p
        end)())
        -- the WebSocket's presence_state lists both of bob's metas
        local state = H.wait(function()
            return ws:find(function(m) return m[4] == "presence_state" end)
        end)
        assert.equal(2, #state[5].bob.metas)
        ws:close()
    end)

    it("ends a session that stops polling after the timeout: leave, close 1006, then 410", function()
        srv:close()
        srv = start({ longpoll = { window = 0.6, timeout = 0.8 } })
        local a = lp(srv, "vsn=2.0.0&user=ann")
        a:open()
        a:post('["4","4","room:exp","phx_join",{}]')
        a:poll_until(has("room:exp", "presence_state"))
        local w = lp(srv, "vsn=2.0.0&user=wes")
        w:open()
        w:post('["1","1","room:exp","phx_join",{}]')
        w:poll_until(has("room:exp", "presence_state"))
        -- ann stops polling; wes goes on and hears her leave
        local t0 = sb.now_ms()
        w:poll_until(function(got)
            for _, m in ipairs(got) do
                if m[4] == "presence_diff" and m[5].leaves.ann then
                    return true
                end
            end
        end, 4)
        local took = sb.now_ms() - t0
        assert.is_true(took >= 300 and took < 2500, "took " .. took .. " ms")
        assert.same({ "ann:room:exp:closed" }, srv.seen)
        assert.same({ transport = "longpoll", code = 1006 }, srv.closes[1])
        -- her client comes back: the session is gone (it reconnects and rejoins)
        local got = a:poll()
        assert.same({ status = 410, token = a.token, messages = {} }, got)
        assert.same({ status = 410, error = "no such session" }, (a:post('["4","9","room:exp","ask",{}]')))
        -- a token the server never made, on a POST
        a.token = "AAAAAAAAAAAAAAAAAAAAAAAA"
        assert.same({ status = 410, error = "no such session" }, (a:post('["4","9","room:exp","ask",{}]')))
        assert.same({}, errors)
    end)

    it("answers 410 without a new session when the request surely names a gone one", function()
        -- `token` twice: the app's param, then a session token
        local r = http.request(srv.port, "GET", BASE .. "?token=app&vsn=2.0.0&token=BBBBBBBBBBBBBBBBBBBBBBBB")
        assert.equal('{"status":410,"token":null,"messages":[]}', r.body)
        -- the header newer clients use
        r = http.request(srv.port, "GET", BASE .. "?vsn=2.0.0",
            { ["X-Phoenix-Longpoll-Token"] = "CCCCCCCCCCCCCCCCCCCCCCCC" })
        assert.equal(410, r.json.status)
        assert.equal(0, #srv.reqs)
        -- a live session named by the header
        local c = lp(srv)
        c:open()
        c:post('["1","1","room:h","phx_join",{}]')
        r = http.request(srv.port, "GET", BASE .. "?vsn=2.0.0", { ["X-Phoenix-Longpoll-Token"] = c.token })
        assert.equal(200, r.json.status)
        assert.equal(1, #srv.reqs)
    end)

    it("carries binary pushes as base64; binary replies and broadcasts are not sent over LongPoll", function()
        local c = lp(srv)
        c:open()
        c:post('["1","1","room:bin","phx_join",{}]')
        c:poll_until(has("room:bin", "presence_state"))
        -- btoa of the V2 binary push frame: join_ref "1", ref "2", event "upload", payload de ad
        local frame = H.unhex("00 01 01 08 06 31 32") .. "room:bin" .. "upload" .. "\222\173"
        assert.same({ status = 200 }, c:post(btoa(frame)))
        assert.same({ bytes = "\222\173", binary = true }, srv.upload)
        srv.hub:publish("room:bin", "bits", "\1\2", { binary = true })
        srv.hub:publish("room:bin", "text", { ok = true })
        c:poll_until(has("room:bin", "text"))
        local reply
        for _, m in ipairs(c.got) do
            if m[2] == "2" then
                reply = m
            end
        end
        assert.same({ "1", "2", "room:bin", "phx_reply", { status = "ok", response = {} } }, reply)
        assert.is_nil(c:find("room:bin", "bits"))
    end)

    it("takes the authToken from X-Phoenix-AuthToken", function()
        local r = http.request(srv.port, "GET", BASE .. "?vsn=2.0.0",
            { ["X-Phoenix-AuthToken"] = "my-secret" })
        assert.equal(410, r.json.status)
        assert.equal("my-secret", srv.reqs[1].token)
    end)

    it("refuses a connect with 403 and the reason, and an unsupported vsn", function()
        local r = http.request(srv.port, "GET", BASE .. "?vsn=2.0.0&deny=1")
        assert.equal(200, r.status)
        assert.same({ status = 403, error = "no entry" }, r.json)
        r = http.request(srv.port, "GET", BASE .. "?vsn=3.0.0")
        assert.same({ status = 403, error = "refused" }, r.json)
        r = http.request(srv.port, "GET", BASE .. "?vsn=2.0.0&a=1&a=2")
        assert.same({ status = 403, error = "query parameter 'a' given twice" }, r.json)
    end)

    it("sends what the app pushed before it closed the session, then 410", function()
        local c = lp(srv, "vsn=2.0.0&user=ann")
        c:open()
        c:post('["1","1","room:bye","phx_join",{}]', '["1","2","room:bye","bye",{}]')
        local got = c:poll()
        assert.equal(200, got.status)
        assert.truthy(c:find("room:bye", "last_words"))
        assert.same({ transport = "longpoll", code = 4000 }, srv.closes[1])
        assert.equal(410, c:poll().status)
    end)

    it("refuses bad requests with a clear status and keeps serving", function()
        local c = lp(srv)
        c:open()
        local url = c:url()
        local function post(body, headers)
            local r = http.request(srv.port, "POST", url, headers or NDJSON, body)
            return r.status, r.json
        end
        local big = ("x"):rep(1024 * 1024 + 1)
        assert.same({ 413, { status = 413, error = "body over 1048576 bytes" } }, { post(big) })
        local long = '["1","1","room:a","x",{"s":"' .. ("y"):rep(70000) .. '"}]'
        assert.same({ 413, { status = 413, error = "message 1 is over 65536 bytes" } }, { post(long) })
        assert.same({ 400, { status = 400, error = "message 2 is neither a JSON message "
            .. "nor base64: not base64 at byte 3" } }, { post('[null,"1","phoenix","heartbeat",{}]\nnot json') })
        assert.same({ 400, { status = 400, error = "message 1 is not UTF-8" } }, { post('["\255"]') })
        assert.same({ 400, { status = 400, error = "no message in the body" } }, { post("\n\n") })
        local r = http.request(srv.port, "POST", url, NDJSON)
        assert.same({ status = 411, error = "a body with Content-Length is required" }, r.json)
        r = http.request(srv.port, "PUT", url, NDJSON, "[]")
        assert.same({ 405, { status = 405, error = "use GET (poll) or POST (send messages)" } },
            { r.status, r.json })
        -- nothing of the refused bodies ran (not even the heartbeat)
        assert.same({ status = 204, token = c.token, messages = {} }, c:poll())
        -- malformed JSON is the WebSocket's error reply, on the next poll
        assert.same({ 200, { status = 200 } }, { post('["1","1"\n{"topic":1}') })
        local got = c:poll()
        assert.equal('[null,null,"phoenix","phx_reply",{"status":"error","response":'
            .. '{"reason":"malformed message at byte 8: unexpected end of input"}}]', got.messages[1])
        assert.matches('"reason":"malformed message at byte 0: ', got.messages[2], 1, true)
        -- a body that is not a batch is one message
        r = http.request(srv.port, "POST", url, { ["Content-Type"] = "application/json" },
            '[null,"7","phoenix","heartbeat",{}]\n')
        assert.same({ status = 200 }, r.json)
        assert.equal('[null,"7","phoenix","phx_reply",{"status":"ok","response":{}}]', c:poll().messages[1])
        -- the server is fine: a new session joins
        local d = lp(srv)
        d:open()
        d:post('["1","1","room:ok","phx_join",{}]')
        assert.equal(200, d:poll().status)
        assert.same({}, errors)
    end)

    it("applies the rate limit per message: a flood ends the session with 429 and close 1008", function()
        srv:close()
        srv = start({ limits = { max_rate = 1, max_burst = 2 } })
        local c = lp(srv)
        c:open()
        local beats = {}
        for i = 1, 10 do
            beats[i] = ('[null,"%d","phoenix","heartbeat",{}]'):format(i)
        end
        local got, r = c:post((table.unpack or unpack)(beats))
        assert.equal(429, r.status)
        assert.same({ status = 429, error = "rate limit: the session is closed" }, got)
        -- what passed was answered; then the session is gone
        got = c:poll()
        assert.equal(200, got.status)
        assert.equal(2, #got.messages)
        assert.same({ { transport = "longpoll", code = 1008 } }, srv.closes)
        assert.equal(410, c:poll().status)
    end)

    it("answers the CORS preflight", function()
        local r = http.request(srv.port, "OPTIONS", BASE, {
            Origin = "https://app.example", ["Access-Control-Request-Method"] = "POST" })
        assert.equal(200, r.status)
        assert.equal("*", r.headers["access-control-allow-origin"])
        assert.equal("GET, POST, OPTIONS", r.headers["access-control-allow-methods"])
        assert.matches("X-Phoenix-AuthToken", r.headers["access-control-allow-headers"], 1, true)
        assert.matches("Content-Type", r.headers["access-control-allow-headers"], 1, true)
    end)

    it("counts sessions in /metrics apart from Phoenix WebSockets", function()
        local c = lp(srv)
        c:open()
        local r = http.request(srv.port, "GET", "/metrics")
        assert.matches('switchboard_connections{protocol="phoenix",transport="longpoll"} 1\n', r.body, 1, true)
        assert.matches('switchboard_connections{protocol="phoenix"} 0\n', r.body, 1, true)
    end)

    it("answers a held poll when the server closes, and the session ends", function()
        local c = lp(srv, "vsn=2.0.0&user=ann")
        c:open()
        c:post('["1","1","room:end","phx_join",{}]')
        c:poll_until(has("room:end", "presence_state"))
        local poll = http.open(srv.port, "GET", c:url())
        H.settle(0.1)
        srv:close()
        assert.is_true(poll:wait(function(x) return x.ended end, 2))
        assert.equal(410, json.decode(poll.body).status)
        poll:close()
        assert.is_true(H.wait(function() return #srv.closes == 1 end, 3))
        assert.same({ transport = "longpoll", code = 1001 }, srv.closes[1])
        assert.same({ "ann:room:end:closed" }, srv.seen)
    end)
end)

describe("Phoenix LongPoll options", function()
    it("longpoll = false serves no LongPoll", function()
        local srv = assert(sb.listen({ port = 0, longpoll = false }))
        local r = http.request(srv.port, "GET", BASE .. "?vsn=2.0.0")
        assert.equal(404, r.status)
        srv:close()
        H.settle(0.05)
    end)

    it("serves <mount>/longpoll for every Phoenix mount", function()
        local srv = assert(sb.listen({ port = 0, phoenix = { "/live/", "/socket" } }))
        assert.equal(410, http.request(srv.port, "GET", "/live/longpoll?vsn=2.0.0").json.status)
        assert.equal(410, http.request(srv.port, "GET", "/socket/longpoll?vsn=2.0.0").json.status)
        assert.equal(404, http.request(srv.port, "GET", "/other/longpoll?vsn=2.0.0").status)
        srv:close()
        H.settle(0.05)
    end)

    it("checks the option up front", function()
        assert.has_error(function() sb.listen({ port = 0, longpoll = { window = 0 } }) end,
            "switchboard.listen: option 'longpoll.window' must be a number > 0, got 0")
        assert.has_error(function() sb.listen({ port = 0, longpoll = { windw = 1 } }) end)
        assert.has_error(function() sb.listen({ port = 0, longpoll = "yes" }) end)
    end)
end)
