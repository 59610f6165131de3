-- The Lua Phoenix client against this server: the scenarios the npm
-- client runs in interop_phoenix_spec.lua, plus the presence merge rules.
local sb = require "switchboard"
local phoenix = require "switchboard.phoenix"
local H = require "phx_helper"
local rooms = require "phx_rooms"

local function url(srv)
    return ("ws://127.0.0.1:%d/socket"):format(srv.port)
end

describe("lua phoenix client", function()
    local srv, sockets
    before_each(function()
        srv = rooms.start({ phoenix_timeout = 1 })
        sockets = {}
    end)
    after_each(function()
        for _, s in ipairs(sockets) do
            s:disconnect()
        end
        srv:close()
        H.settle(0.05)
    end)

    local function socket(params, opts)
        local s = sb.phoenix.socket(url(srv), params, opts)
        sockets[#sockets + 1] = s
        return s:connect()
    end

    it("joins with a reply payload and refuses with a reason", function()
        local s = socket({ token = "abc" })
        local ok, err
        s:channel("room:lobby", {}):join():receive("ok", function(r) ok = r end)
        s:channel("room:secret", {}):join():receive("error", function(r) err = r end)
        assert.truthy(H.wait(function() return ok and err end))
        assert.same({ welcome = true, topic = "room:lobby" }, ok)
        assert.same({ reason = "unauthorized" }, err)
    end)

    it("gets ok, error and timeout for pushes", function()
        local s = socket()
        local ch = s:channel("room:p")
        ch:join()
        local got = {}
        ch:push("ask", {}):receive("ok", function(r) got.ok = r end)
        ch:push("ask", { fail = true }):receive("error", function(r) got.err = r end)
        ch:push("silent", {}, 0.3):receive("timeout", function() got.timeout = true end)
        assert.truthy(H.wait(function() return got.ok and got.err and got.timeout end))
        assert.same({ answer = 42 }, got.ok)
        assert.same({ reason = "no way" }, got.err)
    end)

    it("receives broadcasts from others but not its own", function()
        local a, b = socket(), socket()
        local ca, cb = a:channel("room:b"), b:channel("room:b")
        local seen_a, seen_b = {}, {}
        ca:on("shout", function(p) seen_a[#seen_a + 1] = p end)
        cb:on("shout", function(p) seen_b[#seen_b + 1] = p end)
        local joined = 0
        ca:join():receive("ok", function() joined = joined + 1 end)
        cb:join():receive("ok", function() joined = joined + 1 end)
        H.wait(function() return joined == 2 end)
        local replied
        ca:push("shout", { x = 1 }):receive("ok", function() replied = true end)
        assert.truthy(H.wait(function() return replied and #seen_b == 1 end))
        H.settle(0.1)
        assert.same({ { x = 1 } }, seen_b)
        assert.same({}, seen_a)
    end)

    it("keeps presence: two users, one with two tabs; closing a tab keeps the user", function()
        local watch = socket()
        local ch = watch:channel("room:pr", { user = "carol" })
        local p = sb.phoenix.presence(ch)
        local syncs, joins = 0, {}
        p:on_sync(function() syncs = syncs + 1 end)
        p:on_join(function(key) joins[#joins + 1] = key end)
        ch:join()
        local alice1, alice2, bob = socket(), socket(), socket()
        alice1:channel("room:pr", { user = "alice" }):join()
        alice2:channel("room:pr", { user = "alice" }):join()
        bob:channel("room:pr", { user = "bob" }):join()
        local function metas(key)
            local e = p.state[key]
            return e and #e.metas or 0
        end
        assert.truthy(H.wait(function()
            return metas("alice") == 2 and metas("bob") == 1 and metas("carol") == 1
        end))
        assert.equal(3, #p:list())
        assert.same({ "alice", "bob", "carol" }, p:list(function(k) return k end))
        alice2:disconnect()
        assert.truthy(H.wait(function() return metas("alice") == 1 end))
        bob:disconnect()
        assert.truthy(H.wait(function() return p.state.bob == nil end))
        assert.truthy(syncs >= 5)
        assert.equal("carol", joins[1])
    end)

    it("sends updates as one diff (new phx_ref with phx_ref_prev)", function()
        local s = socket()
        local ch = s:channel("room:u", { user = "dan" })
        local p = sb.phoenix.presence(ch)
        ch:join()
        assert.truthy(H.wait(function() return p.state.dan end))
        local first = p.state.dan.metas[1].phx_ref
        ch:push("status", { status = "busy" })
        assert.truthy(H.wait(function() return p.state.dan.metas[1].status == "busy" end))
        assert.equal(1, #p.state.dan.metas)
        assert.equal(first, p.state.dan.metas[1].phx_ref_prev)
    end)

    it("heartbeats keep an idle socket open past the server's idle timeout", function()
        local s = socket({}, { heartbeat = 0.3 })
        local closes = 0
        s:on("close", function() closes = closes + 1 end)
        H.wait(function() return s:is_connected() end)
        H.settle(2.5)
        assert.is_true(s:is_connected())
        assert.equal(0, closes)
    end)

    it("closes on a missing heartbeat reply, reconnects and rejoins", function()
        local s = socket({}, { heartbeat = 0.2 })
        -- lose heartbeat replies (as a dead server would) until the timeout fired
        local on_message, lose, reasons = s._on_message, true, {}
        s._on_message = function(self, data, binary)
            if lose and data:find('"phoenix","phx_reply"', 1, true) then
                return
            end
            return on_message(self, data, binary)
        end
        s:on("close", function(_, reason)
            reasons[#reasons + 1] = reason
            lose = false
        end)
        local ch = s:channel("room:hb")
        local errors, oks = {}, 0
        ch:on_error(function(p) errors[#errors + 1] = p end)
        ch:join():receive("ok", function() oks = oks + 1 end)
        assert.truthy(H.wait(function() return oks == 2 end, 4))
        assert.same({ "heartbeat timeout" }, reasons)
        assert.same({ { source = "transport", reason = "heartbeat_timeout" } }, errors)
    end)

    it("reconnects and rejoins (with a fresh presence_state) after the server drops it", function()
        local s = socket()
        local ch = s:channel("room:r", { user = "eve" })
        local p = sb.phoenix.presence(ch)
        local oks, refs = 0, {}
        ch:join():receive("ok", function()
            oks = oks + 1
            refs[#refs + 1] = ch:join_ref()
        end)
        assert.truthy(H.wait(function() return oks == 1 end))
        ch:push("drop", {})
        assert.truthy(H.wait(function() return oks == 2 end))
        assert.are_not.equal(refs[1], refs[2])
        assert.truthy(H.wait(function() return p.state.eve and #p.state.eve.metas == 1 end))
    end)

    it("pushes binary and gets binary replies, pushes and broadcasts", function()
        local a, b = socket(), socket()
        local ca, cb = a:channel("room:bin"), b:channel("room:bin")
        local got = {}
        ca:on("bin_push", function(p) got.push = p end)
        cb:on("bin_bcast", function(p) got.bcast = p end)
        local n = 0
        ca:join():receive("ok", function() n = n + 1 end)
        cb:join():receive("ok", function() n = n + 1 end)
        H.wait(function() return n == 2 end)
        ca:push("upload", "\222\173"):receive("ok", function(r) got.reply = r end)
        assert.truthy(H.wait(function() return got.reply and got.push and got.bcast end))
        assert.equal("\222\173", got.reply)
        assert.equal("\1\2\3", got.push)
        assert.equal("\222\173", got.bcast)
    end)

    it("passes the authToken and the params", function()
        local seen
        srv:on("connect", function(_, req) seen = req end)
        local s = socket(function() return { user = { id = 7 } } end, { auth_token = "my-secret" })
        assert.truthy(H.wait(function() return s:is_connected() end))
        assert.equal("my-secret", seen.token)
        assert.equal("7", seen.query["user[id]"])
    end)

    it("leaves: reply, channel closed, no rejoin", function()
        local s = socket()
        local ch = s:channel("room:l")
        local closed
        ch:on_close(function() closed = true end)
        local joined
        ch:join():receive("ok", function() joined = true end)
        H.wait(function() return joined end)
        ch:leave()
        assert.truthy(H.wait(function() return closed end))
        assert.equal("closed", ch.state)
        assert.same({}, s.channels)
    end)
end)

describe("phoenix presence merge", function()
    it("applies an update diff as the JS client does (docs/protocols.md#presence-frames)", function()
        local state = { alice = { metas = { { phx_ref = "A1", status = "online" }, { phx_ref = "A2" } } } }
        local calls = {}
        phoenix.sync_diff(state, {
            joins = { alice = { metas = { { phx_ref = "A3", phx_ref_prev = "A1", status = "busy" } } } },
            leaves = { alice = { metas = { { phx_ref = "A1", status = "online" } } } },
        }, function(k) calls[#calls + 1] = "join " .. k end, function(k) calls[#calls + 1] = "leave " .. k end)
        assert.same({ "A2", "A3" }, { state.alice.metas[1].phx_ref, state.alice.metas[2].phx_ref })
        assert.same({ "join alice", "leave alice" }, calls)
    end)

    it("syncs a state: missing keys leave, new metas join", function()
        local cur = { a = { metas = { { phx_ref = "1" } } }, b = { metas = { { phx_ref = "2" } } } }
        local new = { b = { metas = { { phx_ref = "2" }, { phx_ref = "3" } } }, c = { metas = { { phx_ref = "4" } } } }
        local joins, leaves = {}, {}
        local st = phoenix.sync_state(cur, new, function(k) joins[#joins + 1] = k end,
            function(k) leaves[#leaves + 1] = k end)
        assert.same({ "b", "c" }, joins)
        assert.same({ "a" }, leaves)
        assert.is_nil(st.a)
        assert.equal(2, #st.b.metas)
    end)
end)
