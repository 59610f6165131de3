-- permessage-deflate (RFC 7692) on the own WebSocket transport of a plain
-- ws:// listener: the negotiation in the 101, compressed frames out (once
-- per frame, RSV1 set), compressed messages in, and the closes for what a
-- compressing client may get wrong.  The raw wire client of
-- spec/support.lua speaks it with core._deflate_raw / _inflate_raw
-- (internal helpers for specs).
local sb = require "switchboard"
local core = require "switchboard.core"
local json = require "switchboard.json"
local support = require "support"

local wait_until = support.wait_until

local OFFER = "permessage-deflate; client_max_window_bits"
local ANSWER = "\r\nSec-WebSocket-Extensions: permessage-deflate; "
    .. "server_no_context_takeover; client_no_context_takeover\r\n"
local LONG = string.rep("hello compressed world ", 60)

-- A wire client on native channel `chan`, offering `offer` (nil: none),
-- its own join event read.
local function client(port, chan, offer)
    local w = support.wire(port, "/c/" .. chan,
        offer and { headers = { ["Sec-WebSocket-Extensions"] = offer } })
    assert.same(101, w.status)
    assert.is_true(wait_until(function() w:pump() return #w.frames >= 1 end))
    return w
end

local function negotiated(w)
    return w.head:find(ANSWER, 1, true) ~= nil
end

-- The payload of data frame f, inflated when it came compressed.
local function payload(f)
    if f.rsv == 4 then
        return assert(core._inflate_raw(f.data))
    end
    return f.data
end

-- The first frame of w whose (inflated) JSON envelope carries `message`.
local function envelope_frame(w, message)
    local found
    wait_until(function()
        w:pump()
        for _, f in ipairs(w.frames) do
            local v = json.decode(payload(f))
            if type(v) == "table" and v.message == message then
                found = f
                return true
            end
        end
        return false
    end)
    return found
end

-- A fresh compressing client does act(w); returns the close it got.
local function closed_by(port, act)
    local w = client(port, "bad", OFFER)
    assert.is_true(negotiated(w))
    act(w)
    local closed = w:wait_closed()
    w:kill()
    return closed
end

describe("permessage-deflate", function()
    local server

    setup(function()
        server = assert(sb.listen{ port = 0 })
    end)

    teardown(function()
        server:close()
        support.settle(0.02)
    end)

    it("is answered with no context takeover, the first acceptable offer winning", function()
        local offers = {
            OFFER,
            "permessage-deflate",
            "permessage-deflate; server_max_window_bits=10, permessage-deflate; client_max_window_bits=12",
            "x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover",
        }
        for _, offer in ipairs(offers) do
            local w = client(server.port, "hs", offer)
            assert.is_true(negotiated(w), offer)
            w:kill()
        end
        -- no offer, or none this server takes: the upgrade goes on without it
        for _, offer in ipairs({ false, "permessage-deflate; bogus", "permessage-deflate; "
            .. "server_max_window_bits=9", "permessage-deflate; client_max_window_bits=16", "x-foo" }) do
            local w = client(server.port, "hs", offer or nil)
            assert.is_nil(w.head:lower():find("sec-websocket-extensions", 1, true), offer)
            w:kill()
        end
    end)

    it("sends a big message compressed with RSV1, the same bytes to every compressing client", function()
        local z1, z2 = client(server.port, "big", OFFER), client(server.port, "big", OFFER)
        local plain, pub = client(server.port, "big"), client(server.port, "big")
        pub:text(json.encode(LONG))
        local f1, f2, fp = envelope_frame(z1, LONG), envelope_frame(z2, LONG), envelope_frame(plain, LONG)
        assert.same(4, f1 and f1.rsv)
        assert.is_true(#f1.data < #fp.data / 4)
        assert.same(f1.data, f2.data)
        assert.same(0, fp.rsv)
        assert.same(fp.data, core._inflate_raw(f1.data))
        -- a small message is not worth it: plain, RSV1 clear
        pub:text('"hi"')
        assert.same(0, envelope_frame(z1, "hi").rsv)
        for _, w in ipairs({ z1, z2, plain, pub }) do
            w:kill()
        end
    end)

    it("inflates a compressed message, whole or in fragments, and relays it", function()
        local z, listener = client(server.port, "up", OFFER), client(server.port, "up")
        z:send(1, core._deflate_raw(json.encode(LONG)), { rsv = 4 })
        assert.is_truthy(envelope_frame(listener, LONG))
        local deflated = core._deflate_raw(json.encode("two " .. LONG))
        z:send(1, deflated:sub(1, 10), { rsv = 4, fin = false })
        z:send(0, deflated:sub(11))
        assert.is_truthy(envelope_frame(listener, "two " .. LONG))
        -- a client may send a small message plain
        z:text('"plain"')
        assert.is_truthy(envelope_frame(listener, "plain"))
        z:kill()
        listener:kill()
    end)

    it("closes what a compressing client gets wrong, and keeps serving the others", function()
        local a, b = client(server.port, "calm", OFFER), client(server.port, "calm")
        local max = 65536   -- the default max_message
        local cases = {
            { 1007, "bad deflate data", function(w) w:send(1, "\255\255\255", { rsv = 4 }) end },
            { 1007, "truncated deflate data", function(w)
                local d = core._deflate_raw(json.encode(LONG))
                w:send(1, d:sub(1, math.floor(#d / 2)), { rsv = 4 })
            end },
            { 1007, "bad utf8", function(w) w:send(1, core._deflate_raw('"\255\254"'), { rsv = 4 }) end },
            { 1009, "message too big", function(w)
                w:send(1, core._deflate_raw('"' .. string.rep("a", 4 * max) .. '"'), { rsv = 4 })
            end },
            { 1002, "reserved bits", function(w) w:send(9, "x", { rsv = 4 }) end },
            { 1002, "reserved bits", function(w)
                w:send(1, core._deflate_raw('"a'), { rsv = 4, fin = false })
                w:send(0, core._deflate_raw('"'), { rsv = 4 })
            end },
        }
        for _, case in ipairs(cases) do
            local closed = closed_by(server.port, case[3])
            assert.same({ case[1], case[2] }, { closed and closed.code, closed and closed.reason })
        end
        -- the bomb went no further than the limit: nothing was relayed
        a:text(json.encode(LONG))
        assert.is_truthy(envelope_frame(b, LONG))
        a:kill()
        b:kill()
    end)

    it("closes RSV1 on a connection that did not negotiate with 1002", function()
        local w = client(server.port, "bad")
        w:send(1, core._deflate_raw('"x"'), { rsv = 4 })
        local closed = w:wait_closed()
        assert.same(1002, closed and closed.code)
        assert.same("reserved bits", closed.reason)
        w:kill()
    end)
end)

describe("compression = false", function()
    it("negotiates nothing and sends every frame plain", function()
        local server = assert(sb.listen{ port = 0, compression = false })
        local z, pub = client(server.port, "off", OFFER), client(server.port, "off")
        assert.is_false(negotiated(z))
        pub:text(json.encode(LONG))
        local f = envelope_frame(z, LONG)
        assert.same(0, f and f.rsv)
        z:send(1, core._deflate_raw('"x"'), { rsv = 4 })
        assert.same(1002, (z:wait_closed() or {}).code)
        z:kill()
        pub:kill()
        server:close()
    end)

    it("is checked like any option", function()
        assert.has_error(function() sb.listen{ port = 0, compression = "yes" } end)
    end)
end)
