-- Issue 4's "done when": the unmodified npm phoenix client and its
-- Presence class against examples/chat.lua (spec/interop/phoenix/chat.js):
-- join with and without a user, push new_msg with an ok reply and a
-- broadcast to the whole room, typing to the others only, and a two-tab
-- user that stays present when one tab closes.
local json = require "switchboard.json"
local H = require "phx_helper"
local chat = require "examples.chat"

local DIR = "spec/interop/phoenix"

local function skip_reason()
    return H.node_skip_reason(DIR, "phoenix")
end

local read_all = H.read_all

describe("npm phoenix client against examples/chat.lua", function()
    it("joins, pushes, broadcasts, types and keeps a two-tab user present", function()
        local why = skip_reason()
        if why then
            pending(why)
            return
        end
        local app = assert(chat.start({ port = 0 }))
        local out = os.tmpname()
        os.execute(("cd %s && node chat.js %d > %s 2>&1 &"):format(DIR, app.port, out))
        H.wait(function() return read_all(out):find("RESULT ", 1, true) end, 40)
        local log = read_all(out)
        os.remove(out)
        app:close()
        H.settle(0.05)
        local r = json.decode(log:match("RESULT ([^\n]+)") or "null")
        assert.is_table(r, log)
        assert.is_nil(r.error, log)
        assert.same({ status = "error", resp = { reason = 'user required: join with params {"user": NAME}' } },
            r.refused)
        assert.same("ok", r.alice_join)
        assert.same({ "ok", "ok" }, r.bob_joins)
        assert.same({ alice = 1, bob = 2 }, r.presence_two_tabs)
        assert.same("ok", r.push_reply)
        assert.same({ { user = "alice", body = "hi" } }, r.bob_got)
        assert.same({ { user = "alice", body = "hi" } }, r.alice_got)
        assert.same({ { user = "alice", typing = true } }, r.bob_typing)
        assert.same(0, r.alice_typing)
        assert.same({ alice = 1, bob = 1 }, r.presence_one_tab)
    end)
end)
