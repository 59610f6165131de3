-- Binary frames on the native endpoint (docs/protocols.md#binary-messages):
-- who gets the bytes a native client sends, in which form, what the size
-- limit, the history and the app's hooks do with them.
local sb = require "switchboard"
local support = require "support"
local http = require "http_helper"
local H = require "phx_helper"

local raw, wait_until, settle = support.raw, support.wait_until, support.settle

-- Every byte value, so nothing can be mistaken for text on the way.
local ALL_BYTES = (function()
    local t = {}
    for i = 0, 255 do
        t[#t + 1] = string.char(i)
    end
    return table.concat(t)
end)()

-- Message envelopes (text frames with a `message` key) a raw client got.
local function envelopes(r)
    local out = {}
    for _, f in ipairs(r.frames) do
        if type(f) == "table" and f.message ~= nil and f.type == nil then
            out[#out + 1] = f
        end
    end
    return out
end

describe("binary frames on the native endpoint", function()
    local server

    before_each(function()
        server = assert(sb.listen{ port = 0 })
    end)

    after_each(function()
        server:close()
        settle(0.02)
    end)

    local function url(path)
        return server:url(path)
    end

    -- Opens raw clients on the paths given, each past its own join.
    local function clients(...)
        local out = {}
        for i, path in ipairs({ ... }) do
            out[i] = raw(url(path))
            assert.is_true(wait_until(function() return #out[i]:of_type("join") >= 1 end))
        end
        return (table.unpack or unpack)(out)
    end

    it("relays the bytes as one binary frame to the clients that asked with binary=true", function()
        local a, b, c = clients("/c/bin?binary=true", "/c/bin?binary=true", "/c/bin")
        assert.is_true(wait_until(function() return server.hub:connection_count("bin") == 3 end))
        a:send(ALL_BYTES, true)
        assert.is_true(wait_until(function() return #b.binary == 1 end))
        assert.equal(ALL_BYTES, b.binary[1])
        -- the text side follows on: c (no binary=true) is unharmed and gets it
        a:send('"after"')
        assert.is_true(wait_until(function() return #envelopes(c) == 1 and #envelopes(b) == 1 end))
        assert.same({}, c.binary)          -- an itty client cannot read binary frames
        assert.same({}, a.binary)          -- no echo without echo=true
        assert.same({}, a:of_type("error"))
        assert.equal(1, #b.binary)         -- no envelope, no copy as text
        a:close() b:close() c:close()
    end)

    it("echoes a binary frame to its sender only with echo=true and binary=true", function()
        local both, echo_only, other = clients("/c/echo?echo=true&binary=true",
            "/c/echo?echo=true", "/c/echo?binary=true")
        both:send("\1\2", true)
        echo_only:send("\3\4", true)
        assert.is_true(wait_until(function() return #both.binary == 2 and #other.binary == 2 end))
        assert.same({ "\1\2", "\3\4" }, both.binary)
        assert.same({ "\1\2", "\3\4" }, other.binary)
        echo_only:send('"sync"')
        assert.is_true(wait_until(function() return #envelopes(echo_only) == 1 end))
        assert.same({}, echo_only.binary)
        both:close() echo_only:close() other:close()
    end)

    it("carries binary frames of every length up to max_message; one over it is closed with 1009", function()
        server:close()
        server = assert(sb.listen{ port = 0, max_message = 4096 })
        local a, b = clients("/c/sizes", "/c/sizes?binary=true")
        local lengths = { 0, 1, 125, 126, 127, 65 * 2, 4095, 4096 }
        for _, n in ipairs(lengths) do
            a:send(ALL_BYTES:rep(17):sub(1, n), true)
        end
        assert.is_true(wait_until(function() return #b.binary == #lengths end))
        for i, n in ipairs(lengths) do
            assert.equal(n, #b.binary[i])
            assert.equal(ALL_BYTES:rep(17):sub(1, n), b.binary[i])
        end
        a:send(("\0"):rep(4097), true)
        local closed = a:wait_closed()
        assert.same({ 1009, "message too big" }, { closed and closed.code, closed and closed.reason })
        settle(0.05)
        assert.equal(#lengths, #b.binary)   -- nothing of it was relayed
        b:close()
    end)

    it("sends Phoenix V2 sockets a binary broadcast with event \"binary\"; V1 sockets nothing", function()
        server:channel("room:*", { join = function() return {} end })
        local v2 = H.open(server.port)
        v2:send('["1","1","room:b","phx_join",{}]')
        assert.truthy(v2:frame(2))         -- the reply and presence_state
        local v1 = H.open(server.port, "/socket/websocket?vsn=1.0.0")
        v1:send('{"topic":"room:b","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}')
        assert.truthy(v1:frame(2))
        local n = clients("/c/room:b?alias=nat")
        n:send("\222\173\190\239", true)
        local data, binary = v2:frame(3)
        assert.is_true(binary)
        -- kind 2 | len("room:b") | len("binary") | topic | event | payload
        assert.equal("0206" .. "06" .. H.hex("room:b") .. H.hex("binary") .. "deadbeef", H.hex(data))
        n:send('"text"')
        assert.is_true(wait_until(function() return #v1.frames == 3 end))
        assert.matches('"event":"message"', v1.frames[3].data)   -- the text only
        v2:close() v1:close() n:close()
    end)

    it("sends SSE streams nothing for a binary frame, which still takes a position", function()
        local stream = http.open(server.port, "GET", "/sse/feed", { Accept = "text/event-stream" })
        assert.is_true(stream:wait(function(x) return x.status == 200 end))
        local n = clients("/c/feed")
        n:send('{"n":1}')
        n:send("\1\2\3", true)
        n:send('{"n":3}')
        assert.is_true(stream:wait(function(x) return #x:messages() >= 2 end))
        settle(0.05)
        local got = stream:messages()
        assert.equal(2, #got)
        assert.same({ 1, 3 }, http.ns(got))
        local e1, o1 = got[1].id:match("^(%d+)%-(%d+)$")
        local e3, o3 = got[2].id:match("^(%d+)%-(%d+)$")
        assert.equal(e1, e3)
        assert.equal(tonumber(o1) + 2, tonumber(o3))   -- offset o1 + 1 went to the bytes
        stream:close()
        n:close()
    end)

    it("keeps binary messages in history but never replays them", function()
        server:close()
        server = assert(sb.listen{ port = 0, history = 10 })
        local a, live = clients("/c/hist", "/c/hist?binary=true&recover=true")
        a:send('"one"')
        a:send("\7\7", true)
        a:send('"three"')
        assert.is_true(wait_until(function() return #envelopes(live) == 2 and #live.binary == 1 end))
        local first = envelopes(live)[1].id
        assert.matches("^%d+%-%d+$", first)
        -- a binary frame has no room for an id: the client cannot tell it
        -- had the bytes, so resuming after "one" replays "three" only
        local back = raw(url("/c/hist?binary=true&since=" .. first))
        assert.is_true(wait_until(function() return #back:of_type("join") >= 1 end))
        settle(0.05)
        local replayed = envelopes(back)
        assert.equal(1, #replayed)
        assert.same({ "three", {} }, { replayed[1].message, back.binary })
        -- live bytes reach the resumed client as usual
        a:send("\8", true)
        assert.is_true(wait_until(function() return #back.binary == 1 end))
        assert.equal("\8", back.binary[1])
        a:close() live:close() back:close()
    end)

    it("hands a binary frame to on.message with { binary = true }; false keeps it from the relay", function()
        local seen = {}
        server:channel("app:*", {
            on = {
                message = function(conn, topic, msg, info)
                    seen[#seen + 1] = { topic = topic, msg = msg, binary = info and info.binary,
                        uid = conn.uid }
                    return msg ~= "\0drop"
                end,
            },
        })
        local a, b = clients("/c/app:1", "/c/app:1?binary=true")
        a:send("\0drop", true)
        a:send("\0keep", true)
        a:send('"text"')
        assert.is_true(wait_until(function() return #seen == 3 and #envelopes(b) == 1 end))
        assert.same({ topic = "app:1", msg = "\0drop", binary = true, uid = seen[1].uid }, seen[1])
        assert.same({ "\0keep", true }, { seen[2].msg, seen[2].binary })
        assert.same({ "text", nil }, { seen[3].msg, seen[3].binary })
        assert.same({ "\0keep" }, b.binary)
        a:close() b:close()
    end)

    it("asks the channel's publish function with info.binary; listen-only channels refuse bytes too", function()
        server:close()
        local asked = {}
        server = assert(sb.listen{ port = 0, channels = {
            ["ro"] = { publish = false },
            ["mod"] = { publish = function(_, _, msg, info)
                asked[#asked + 1] = { msg = msg, binary = info.binary, protocol = info.protocol }
                return msg ~= "\255", "no 0xff here"
            end },
        } })
        local ro, ro_listener = clients("/c/ro", "/c/ro?binary=true")
        ro:send("\1", true)
        assert.is_true(wait_until(function() return #ro:of_type("error") == 1 end))
        assert.matches("listen%-only", ro:of_type("error")[1].message)
        local m, m_listener = clients("/c/mod", "/c/mod?binary=true")
        m:send("\255", true)
        m:send("\254", true)
        assert.is_true(wait_until(function() return #m_listener.binary == 1 and #m:of_type("error") == 1 end))
        assert.same({ "\254" }, m_listener.binary)
        assert.same("no 0xff here", m:of_type("error")[1].message)
        assert.same({ msg = "\255", binary = true, protocol = "native" }, asked[1])
        assert.same({}, ro_listener.binary)
        ro:close() ro_listener:close() m:close() m_listener:close()
    end)

    it("gives the hub the sender, event \"binary\" and the bytes; hub:publish bytes reach binary clients", function()
        local got
        local fake = server.hub:attach(function(channel, event, payload, info)
            got = { channel = channel, event = event, payload = payload, binary = info.binary,
                from = info.from, alias = info.alias }
        end)
        assert.truthy(server.hub:join("hubbed", "watcher", fake))
        local a, b = clients("/c/hubbed?alias=ann", "/c/hubbed?binary=true")
        a:send("\0\1", true)
        assert.is_true(wait_until(function() return got ~= nil end))
        local uid = a:of_type("join")[1].uid
        assert.same({ channel = "hubbed", event = "binary", payload = "\0\1", binary = true,
            from = uid, alias = "ann" }, got)
        server.hub:publish("hubbed", "blob", "\9\9", { binary = true })
        assert.is_true(wait_until(function() return #b.binary == 2 end))
        assert.same({ "\0\1", "\9\9" }, b.binary)
        settle(0.05)
        assert.same({}, a.binary)
        fake:close()
        a:close() b:close()
    end)

    it("shows a connection's binary option to the app as conn.binary", function()
        local flags = {}
        server:on("open", function(conn) flags[#flags + 1] = conn.binary or false end)
        local a, b = clients("/c/flag?binary=true", "/c/flag")
        assert.is_true(wait_until(function() return #flags == 2 end))
        assert.same({ true, false }, flags)
        a:close() b:close()
    end)
end)
