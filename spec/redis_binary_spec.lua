-- Binary messages across nodes through Redis (docs/protocols.md#binary-messages):
-- a native client's bytes and a Phoenix binary push reach the binary-capable
-- clients of the other node, and the shared history numbers them without
-- ever replaying them.  Two server nodes and a real redis-server on a free
-- loopback port.
local support = require "support"
local H = require "phx_helper"
local R = require "redis_helper"

local wait_until, settle, raw = support.wait_until, support.settle, support.raw

if not R.have_redis() then
    describe("binary across nodes through Redis", function()
        pending("redis-server is not installed")
    end)
    return
end

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

describe("binary across nodes through Redis", function()
    local fx = R.fixture()
    local later = fx.later

    setup(fx.start)
    teardown(fx.stop)
    after_each(fx.close_all)

    -- A node whose room:* topics take Phoenix joins and relay an "upload"
    -- push (binary or not) to the topic's other subscribers.
    local function node(name, extra)
        local s = fx.listen(name, extra)
        s:channel("room:*", {
            join = function() return {} end,
            on = { upload = function(conn, topic, payload, info)
                s.hub:publish(topic, "upload", payload, { binary = info.binary, except = conn })
                return {}
            end },
        })
        return s
    end

    -- A raw native client, past its own join, closed after the test.
    local function native(s, path)
        local r = raw(s:url(path))
        later(function() r:close() end)
        assert.is_true(wait_until(function() return #r:of_type("join") >= 1 end))
        return r
    end

    -- A Phoenix V2 socket joined to topic (its reply and presence_state read).
    local function phoenix(s, topic)
        local p = H.open(s.port)
        later(function() p:close() end)
        p:send(('["1","1","%s","phx_join",{}]'):format(topic))
        assert.truthy(p:frame(2))
        return p
    end

    -- The binary frames a Phoenix socket got, as hex.
    local function binary_frames(p)
        local out = {}
        for _, f in ipairs(p.frames) do
            if f.binary then
                out[#out + 1] = H.hex(f.data)
            end
        end
        return out
    end

    it("relays a native client's bytes to the binary clients and Phoenix sockets of the other node", function()
        local a, b = node("bin-a"), node("bin-b")
        assert.is_true(R.connected(a.hub, b.hub))
        local sender = native(a, "/c/room:x?binary=true&echo=true")
        local bytes_b = native(b, "/c/room:x?binary=true")
        local itty_b = native(b, "/c/room:x")
        local phx_b = phoenix(b, "room:x")
        assert.is_true(wait_until(function()
            return a.hub:connection_count("room:x") == 4 and b.hub:connection_count("room:x") == 4
        end))
        sender:send("\0\1\2\255", true)
        assert.is_true(wait_until(function()
            return #bytes_b.binary == 1 and #binary_frames(phx_b) == 1 and #sender.binary == 1
        end))
        assert.same({ "\0\1\2\255" }, bytes_b.binary)
        assert.same({ "\0\1\2\255" }, sender.binary)     -- echo=true: once, from its own node
        assert.same({ "0206" .. "06" .. H.hex("room:x") .. H.hex("binary") .. "000102ff" },
            binary_frames(phx_b))
        sender:send('"sync"')
        assert.is_true(wait_until(function() return #envelopes(itty_b) == 1 end))
        settle(0.05)
        assert.same({}, itty_b.binary)
        assert.equal(1, #sender.binary)
    end)

    it("carries a Phoenix binary push from node A to Phoenix and native clients on node B", function()
        local a, b = node("phxbin-a"), node("phxbin-b")
        assert.is_true(R.connected(a.hub, b.hub))
        local phx_a = phoenix(a, "room:y")
        local phx_b = phoenix(b, "room:y")
        local bytes_b = native(b, "/c/room:y?binary=true")
        assert.is_true(wait_until(function() return a.hub:connection_count("room:y") == 3 end))
        -- push kind 0: join_ref "1", ref "2", topic room:y, event upload, payload 09 08
        phx_a:send(H.unhex("00 01 01 06 06") .. "12" .. "room:y" .. "upload" .. "\9\8", true)
        assert.is_true(wait_until(function()
            return #binary_frames(phx_b) == 1 and #bytes_b.binary == 1
        end))
        assert.same({ "0206" .. "06" .. H.hex("room:y") .. H.hex("upload") .. "0908" },
            binary_frames(phx_b))
        assert.same({ "\9\8" }, bytes_b.binary)
        settle(0.05)
        assert.same({}, binary_frames(phx_a))            -- except = the pusher
    end)

    it("numbers binary messages in the shared history and replays only the text on the other node", function()
        local a, b = node("hbin-a", { history = 10 }), node("hbin-b", { history = 10 })
        assert.is_true(R.connected(a.hub, b.hub))
        local sender = native(a, "/c/feed")
        local live = native(a, "/c/feed?binary=true&recover=true")
        sender:send('"one"')
        sender:send("\7\7", true)
        sender:send('"three"')
        assert.is_true(wait_until(function() return #envelopes(live) == 2 and #live.binary == 1 end))
        local one, three = envelopes(live)[1].id, envelopes(live)[2].id
        local e1, o1 = one:match("^(%d+)%-(%d+)$")
        local e3, o3 = three:match("^(%d+)%-(%d+)$")
        assert.same({ e1, tonumber(o1) + 2 }, { e3, tonumber(o3) })   -- the bytes took o1 + 1
        -- node B reads the shared history from Redis for this resume
        local back = native(b, "/c/feed?binary=true&since=" .. one)
        assert.is_true(wait_until(function() return #envelopes(back) == 1 end))
        settle(0.1)
        assert.same({ "three", three }, { envelopes(back)[1].message, envelopes(back)[1].id })
        assert.same({}, back.binary)
        sender:send("\8", true)
        assert.is_true(wait_until(function() return #back.binary == 1 end))
        assert.same({ "\8" }, back.binary)
    end)
end)
