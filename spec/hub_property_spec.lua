-- Random join/leave/disconnect/close/publish sequences checked against a
-- model after every step.  Reproduce a failure with SB_SEED=<seed>.
local sb = require "switchboard"

-- Park-Miller: same sequence on every Lua (exact in doubles).
local function prng(seed)
    local state = seed % 2147483646 + 1
    return function(n)
        state = state * 16807 % 2147483647
        return state % n + 1
    end
end

local CHANNELS = { "c1", "c2", "c3", "c4" }
local MEMBERS = { "m1", "m2", "m3", "m4", "m5" }
local NCONNS = 9

local function keys_sorted(t)
    local list = {}
    for k in pairs(t) do list[#list + 1] = k end
    table.sort(list)
    return list
end

local function run(seed, steps)
    local rand = prng(seed)
    local hub = sb.hub()
    local step = 0

    local function check(cond, fmt, ...)
        if not cond then
            error(("seed %d, step %d: " .. fmt):format(seed, step, ...), 2)
        end
    end

    -- model: joined[channel][slot] = member; slot -> conn, member of slot
    local joined = {}
    for _, ch in ipairs(CHANNELS) do joined[ch] = {} end
    local conns, owner, delivered = {}, {}, {}
    local function new_conn(slot)
        conns[slot] = hub:attach(function(channel, _, payload)
            delivered[#delivered + 1] = { slot = slot, channel = channel, payload = payload }
        end)
        owner[slot] = MEMBERS[rand(#MEMBERS)]
    end
    for slot = 1, NCONNS do new_conn(slot) end

    local events = {}
    hub:on("presence:join", function(ch, m) events[#events + 1] = "join " .. ch .. " " .. m end)
    hub:on("presence:leave", function(ch, m) events[#events + 1] = "leave " .. ch .. " " .. m end)

    local function present()
        local p = {}
        for _, ch in ipairs(CHANNELS) do
            p[ch] = {}
            for _, m in pairs(joined[ch]) do p[ch][m] = true end
        end
        return p
    end

    -- the presence events a change from `before` to the model implies
    local function expected_events(before)
        local after, list = present(), {}
        for _, ch in ipairs(CHANNELS) do
            for m in pairs(after[ch]) do
                if not before[ch][m] then list[#list + 1] = "join " .. ch .. " " .. m end
            end
            for m in pairs(before[ch]) do
                if not after[ch][m] then list[#list + 1] = "leave " .. ch .. " " .. m end
            end
        end
        table.sort(list)
        return list
    end

    local function verify_state()
        local p = present()
        local channels, subs, members = 0, 0, 0
        for _, ch in ipairs(CHANNELS) do
            local want = keys_sorted(p[ch])
            local got = hub:presence(ch)
            check(table.concat(got, ",") == table.concat(want, ","),
                "presence of %s is {%s}, want {%s}", ch, table.concat(got, ","), table.concat(want, ","))
            local nconn = 0
            for _ in pairs(joined[ch]) do nconn = nconn + 1 end
            check(hub:connection_count(ch) == nconn, "connection_count of %s", ch)
            check(hub:member_count(ch) == #want, "member_count of %s", ch)
            for _, m in ipairs(MEMBERS) do
                check(hub:is_present(ch, m) == (p[ch][m] == true), "is_present(%s, %s)", ch, m)
            end
            if nconn > 0 then channels = channels + 1 end
            subs, members = subs + nconn, members + #want
        end
        check(#hub:channels() == channels, "%d channels listed, want %d", #hub:channels(), channels)
        -- the C side holds exactly the model: no stale nodes, no empty channels
        local st = hub:stats()
        check(st.channels == channels and st.subscriptions == subs and st.members == members,
            "stats %d channels, %d subscriptions, %d members; want %d, %d, %d",
            st.channels, st.subscriptions, st.members, channels, subs, members)
    end

    local function do_join()
        local slot, ch = rand(NCONNS), CHANNELS[rand(#CHANNELS)]
        local member = owner[slot]
        if rand(10) == 1 then member = MEMBERS[rand(#MEMBERS)] end
        local ok, err = hub:join(ch, member, conns[slot])
        local cur = joined[ch][slot]
        if cur and cur ~= member then
            check(ok == nil and err, "join as a second identity must fail")
        else
            local was = present()[ch][member] == true
            check(ok == not was, "join returned %s, member was present: %s", tostring(ok), tostring(was))
            joined[ch][slot] = member
        end
    end

    local function do_leave()
        local slot, ch = rand(NCONNS), CHANNELS[rand(#CHANNELS)]
        local member = joined[ch][slot] or owner[slot]
        local res = hub:leave(ch, member, conns[slot])
        local was_joined = joined[ch][slot] ~= nil
        joined[ch][slot] = nil
        local now_absent = was_joined and not present()[ch][member]
        check(res == now_absent, "leave returned %s, want %s", tostring(res), tostring(now_absent))
    end

    local function do_disconnect()
        local slot = rand(NCONNS)
        if rand(3) == 1 then
            conns[slot]:close()
            new_conn(slot)
        else
            hub:disconnect(conns[slot])
        end
        for _, ch in ipairs(CHANNELS) do joined[ch][slot] = nil end
    end

    local function do_publish()
        local ch = CHANNELS[rand(#CHANNELS)]
        local except = rand(3) == 1 and rand(NCONNS) or nil
        local except_member = rand(3) == 1 and MEMBERS[rand(#MEMBERS)] or nil
        local want = {}
        for slot, m in pairs(joined[ch]) do
            if slot ~= except and m ~= except_member then want[#want + 1] = slot end
        end
        table.sort(want)
        delivered = {}
        local payload = "p" .. step
        local n = hub:publish(ch, "e", payload, { except = except and conns[except], except_member = except_member })
        check(n == #want, "publish to %s reached %s, want %d", ch, tostring(n), #want)
        local got = {}
        for _, d in ipairs(delivered) do
            check(d.channel == ch and d.payload == payload, "wrong message delivered")
            got[#got + 1] = d.slot
        end
        table.sort(got)
        check(table.concat(got, ",") == table.concat(want, ","),
            "publish to %s delivered to {%s}, want {%s}", ch, table.concat(got, ","), table.concat(want, ","))
    end

    local actions = { do_join, do_join, do_join, do_leave, do_leave, do_disconnect, do_publish, do_publish }
    for i = 1, steps do
        step = i
        local before = present()
        events = {}
        actions[rand(#actions)]()
        table.sort(events)
        local want = expected_events(before)
        check(table.concat(events, ";") == table.concat(want, ";"),
            "presence events {%s}, want {%s}", table.concat(events, ";"), table.concat(want, ";"))
        verify_state()
    end
    for slot = 1, NCONNS do conns[slot]:close() end
    check(#hub:channels() == 0, "channels left after closing everything")
end

-- Deliver hooks that re-enter the hub at random (join, leave, disconnect,
-- nested publish).  The exact receivers then depend on the walk order, so
-- this checks what must hold anyway: each publish reaches only connections
-- joined when it started and not excluded, each at most once, as many as
-- it returns; presence events alternate join/leave per (channel, member)
-- and agree with presence; the C side holds no stale node.
local function run_reentrant(seed, steps)
    local rand = prng(seed)
    local hub = sb.hub()
    local step = 0
    local function check(cond, fmt, ...)
        if not cond then
            error(("re-entrant seed %d, step %d: " .. fmt):format(seed, step, ...), 2)
        end
    end
    -- hooks run under the hub's pcall: they record the first failure and
    -- the main loop raises it
    local hook_error
    local function hcheck(cond, fmt, ...)
        if not cond and not hook_error then
            hook_error = ("re-entrant seed %d, step %d: " .. fmt):format(seed, step, ...)
        end
        return cond
    end
    local joined = {}
    for _, ch in ipairs(CHANNELS) do joined[ch] = {} end
    local conns = {}
    local publishes, depth = {}, 0
    local state = {}                 -- "ch member" -> true while the events say present
    hub:on("presence:join", function(ch, m)
        hcheck(not state[ch .. " " .. m], "presence:join twice for %s %s", ch, m)
        state[ch .. " " .. m] = true
    end)
    hub:on("presence:leave", function(ch, m)
        hcheck(state[ch .. " " .. m], "presence:leave without join for %s %s", ch, m)
        state[ch .. " " .. m] = nil
    end)

    local act
    for slot = 1, NCONNS do
        conns[slot] = hub:attach(function(_, _, payload)
            local p = publishes[payload]
            if not hcheck(p and p.allowed[slot], "publish %s reached slot %d, not a receiver at its start",
                tostring(payload), slot) then
                return
            end
            hcheck(not p.got[slot], "publish %s reached slot %d twice", tostring(payload), slot)
            p.got[slot], p.count = true, p.count + 1
            if depth < 3 and rand(3) == 1 then act() end
        end)
    end

    local function publish()
        local ch = CHANNELS[rand(#CHANNELS)]
        local except = rand(3) == 1 and rand(NCONNS) or nil
        local except_member = rand(3) == 1 and MEMBERS[rand(#MEMBERS)] or nil
        local id = "p" .. step .. "." .. rand(1e9)
        local p = { allowed = {}, got = {}, count = 0 }
        for slot, m in pairs(joined[ch]) do
            if slot ~= except and m ~= except_member then p.allowed[slot] = true end
        end
        publishes[id] = p
        depth = depth + 1
        local n = hub:publish(ch, "e", id, { except = except and conns[except], except_member = except_member })
        depth = depth - 1
        hcheck(n == p.count, "publish returned %d, delivered %d", n, p.count)
        publishes[id] = nil
    end

    function act()
        local r, slot, ch = rand(8), rand(NCONNS), CHANNELS[rand(#CHANNELS)]
        if r <= 3 then
            local m = MEMBERS[rand(#MEMBERS)]
            if hub:join(ch, m, conns[slot]) ~= nil then joined[ch][slot] = joined[ch][slot] or m end
        elseif r <= 5 then
            hub:leave(ch, joined[ch][slot] or "x", conns[slot])
            joined[ch][slot] = nil
        elseif r == 6 then
            hub:disconnect(conns[slot])
            for _, c in ipairs(CHANNELS) do joined[c][slot] = nil end
        else
            publish()
        end
    end

    for i = 1, steps do
        step = i
        act()
        if hook_error then error(hook_error, 0) end
        for _, ch in ipairs(CHANNELS) do
            local want = {}
            for _, m in pairs(joined[ch]) do want[m] = true end
            local got = hub:presence(ch)
            local n = 0
            for _ in pairs(want) do n = n + 1 end
            check(#got == n, "presence of %s has %d members, want %d", ch, #got, n)
            for _, m in ipairs(got) do
                check(want[m] and state[ch .. " " .. m], "%s present in %s without cause or event", m, ch)
            end
        end
        check(hub:stats().subscriptions == (function()
            local n = 0
            for _, ch in ipairs(CHANNELS) do for _ in pairs(joined[ch]) do n = n + 1 end end
            return n
        end)(), "stale subscription nodes")
    end
    for slot = 1, NCONNS do conns[slot]:close() end
    check(not hook_error and next(state) == nil and hub:stats().channels == 0,
        "state left after closing everything %s", tostring(hook_error))
end

describe("hub property", function()
    local steps = os.getenv("SB_SPEC_LUA") == "valgrind" and 2000 or 12000

    it("matches the model over random steps", function()
        local seed = tonumber(os.getenv("SB_SEED")) or os.time()
        local ok, err = pcall(run, seed, steps)
        if not ok then
            print("hub property failed with SB_SEED=" .. seed)
            error(err, 0)
        end
    end)

    it("stays consistent when deliver hooks re-enter the hub", function()
        local seed = tonumber(os.getenv("SB_SEED")) or os.time()
        local ok, err = pcall(run_reentrant, seed, steps)
        if not ok then
            print("hub re-entrant property failed with SB_SEED=" .. seed)
            error(err, 0)
        end
    end)

    it("matches the model for fixed seeds", function()
        for _, seed in ipairs { 1, 42, 20240601 } do
            run(seed, math.floor(steps / 4))
        end
    end)
end)
