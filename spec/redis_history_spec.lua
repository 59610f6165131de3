-- Shared history through Redis: two server nodes and a real redis-server
-- on a free loopback port.  Redis numbers every message of a channel with
-- history once for the whole cluster, so a client that was on node A
-- resumes on node B with exactly what it missed; Redis outages and
-- restarts end in a recovery-failed that says why, never in silence.
local sb = require "switchboard"
local cjson = require "cjson"
local support = require "support"
local http = require "http_helper"
local R = require "redis_helper"

local wait_until, settle = support.wait_until, support.settle

local ns = http.ns

local function ids(list)
    local out = {}
    for i, m in ipairs(list) do
        out[i] = m.id
    end
    return out
end

-- SSE events of one name (recovery-failed, or the specs' "tick").
local function named(c, name)
    local out = {}
    for _, ev in ipairs(c:events()) do
        if ev.event == name then
            out[#out + 1] = ev
        end
    end
    return out
end

local function ticks(c)
    return named(c, "tick")
end

local function failures(c)
    return named(c, "recovery-failed")
end

local function metric(s, name)
    local res = http.request(s.port, "GET", "/metrics")
    return tonumber(res.body:match("\n" .. name .. " (%d+)") or res.body:match("^" .. name .. " (%d+)"))
end

if not R.have_redis() then
    describe("shared history through Redis", function()
        pending("redis-server is not installed")
    end)
    return
end

describe("shared history through Redis", function()
    local fx = R.fixture()
    local redis, logs, later = fx.redis, fx.logs, fx.later

    setup(fx.start)
    teardown(fx.stop)
    after_each(fx.close_all)

    local function listen(node, history)
        return fx.listen(node, { history = history or 100, sse = { keepalive = 0.2 } })
    end

    local function stream(s, path, headers)
        local c = http.open(s.port, "GET", path, headers or {})
        assert.is_true(c:wait(function(x) return x.status ~= nil end))
        later(function() c:close() end)
        return c
    end

    -- Publishes on node s and waits until Redis has numbered it, so that
    -- messages of different nodes come in the order the spec expects.
    local function publish(s, channel, n)
        local function offset()
            return tonumber(redis:query("HGET sb:hpos:" .. channel .. " o")) or 0
        end
        local before = offset()
        s.hub:publish(channel, "tick", { n = n })
        assert.is_true(wait_until(function() return offset() > before end))
    end

    -- Waits until both nodes count `n` connections in the channel between
    -- them, so both follow it (their subscriptions are confirmed).
    local function following(s1, s2, channel, n)
        assert.is_true(wait_until(function()
            return s1.hub:member_count(channel) == n and s2.hub:member_count(channel) == n
        end))
    end

    it("numbers each message once for the cluster: the same ids, in the same order, on every node", function()
        local s1, s2 = listen("ids-a"), listen("ids-b")
        assert.is_true(R.connected(s1.hub, s2.hub))
        local c1, c2 = stream(s1, "/sse/feed"), stream(s2, "/sse/feed")
        following(s1, s2, "feed", 2)
        for n = 1, 20 do
            local s = n % 2 == 1 and s1 or s2
            s.hub:publish("feed", "tick", { n = n })
        end
        assert.is_true(c1:wait(function(x) return #ticks(x) >= 20 end))
        assert.is_true(c2:wait(function(x) return #ticks(x) >= 20 end))
        settle(0.1)
        c1:pump()
        c2:pump()
        assert.equal(20, #ticks(c1))
        assert.same(ns(ticks(c1)), ns(ticks(c2)))
        assert.same(ids(ticks(c1)), ids(ticks(c2)))
        local epoch = ticks(c1)[1].id:match("^(%d+)%-")
        local odd, even = {}, {}
        for i, m in ipairs(ticks(c1)) do
            assert.equal(("%s-%d"):format(epoch, i), m.id)
            local n = cjson.decode(m.data).n
            table.insert(n % 2 == 1 and odd or even, n)
        end
        -- each publisher's messages keep their order
        assert.same({ 1, 3, 5, 7, 9, 11, 13, 15, 17, 19 }, odd)
        assert.same({ 2, 4, 6, 8, 10, 12, 14, 16, 18, 20 }, even)
    end)

    it("resumes an SSE client on node B with exactly what it missed on node A, then live ones", function()
        local s1, s2 = listen("sse-a"), listen("sse-b")
        assert.is_true(R.connected(s1.hub, s2.hub))
        local c = stream(s1, "/sse/news")
        assert.is_true(wait_until(function() return s1.hub:connection_count("news") == 1 end))
        settle(0.1)
        s2.hub:publish("news", "tick", { n = 1 })
        s1.hub:publish("news", "tick", { n = 2 })
        assert.is_true(c:wait(function(x) return #ticks(x) >= 2 end))
        local last = ticks(c)[2].id
        c:close()
        assert.is_true(wait_until(function() return s1.hub:connection_count("news") == 0 end))
        for n = 3, 7 do                                  -- missed while away
            publish(n % 2 == 1 and s1 or s2, "news", n)
        end
        local r = stream(s2, "/sse/news", { ["Last-Event-ID"] = last })
        assert.is_true(r:wait(function(x) return #ticks(x) >= 5 end))
        s1.hub:publish("news", "tick", { n = 8 })         -- live again
        assert.is_true(r:wait(function(x) return #ticks(x) >= 6 end))
        settle(0.1)
        r:pump()
        assert.same({ 3, 4, 5, 6, 7, 8 }, ns(ticks(r)))
        local epoch = last:match("^(%d+)%-")
        for i, m in ipairs(ticks(r)) do
            assert.equal(("%s-%d"):format(epoch, i + 2), m.id)
        end
        assert.equal(0, #failures(r))
        assert.equal(1, metric(s2, "switchboard_recoveries_total"))
    end)

    it("resumes while the channel is busy: replay, then live, no gap and no duplicate", function()
        local s1, s2 = listen("busy-a"), listen("busy-b")
        assert.is_true(R.connected(s1.hub, s2.hub))
        local watcher = stream(s2, "/sse/busy")         -- node B follows the channel
        local c = stream(s1, "/sse/busy")
        following(s1, s2, "busy", 2)
        s1.hub:publish("busy", "tick", { n = 1 })
        assert.is_true(c:wait(function(x) return #ticks(x) >= 1 end))
        local last = ticks(c)[1].id
        c:close()
        local n = 1
        local function more(k)
            for _ = 1, k do
                n = n + 1
                local s = n % 2 == 1 and s1 or s2
                s.hub:publish("busy", "tick", { n = n })
            end
        end
        more(30)
        -- reconnect on B while both nodes keep publishing
        local r = stream(s2, "/sse/busy?lastEventId=" .. last)
        for _ = 1, 10 do
            more(3)
            sb.step(0)
        end
        local total = n
        assert.is_true(r:wait(function(x) return #ticks(x) >= total - 1 end))
        settle(0.2)
        r:pump()
        local want = {}
        for i = 2, total do
            want[#want + 1] = i
        end
        table.sort(want)
        local got = ns(ticks(r))
        local sorted = {}
        for i, v in ipairs(got) do
            sorted[i] = v
        end
        table.sort(sorted)
        assert.same(want, sorted)                      -- exactly once
        local epoch = last:match("^(%d+)%-")
        for i, m in ipairs(ticks(r)) do             -- in offset order
            assert.equal(("%s-%d"):format(epoch, i + 1), m.id)
        end
        assert.is_true(watcher:wait(function(x) return #ticks(x) >= total end))
    end)

    it("resumes a Lua client (recover = true) on another node", function()
        local s1, s2 = listen("lua-a"), listen("lua-b")
        assert.is_true(R.connected(s1.hub, s2.hub))
        local got1 = {}
        local c1 = sb.connect(s1:url("/c/room"), { recover = true, reconnect = false })
        c1:on("tick", function(e) got1[#got1 + 1] = e.n end)
        assert.is_true(wait_until(function() return s1.hub:connection_count("room") == 1 end))
        settle(0.1)
        s2.hub:publish("room", "tick", { n = 1 })
        s1.hub:publish("room", "tick", { n = 2 })
        assert.is_true(wait_until(function() return #got1 == 2 end))
        local last = c1:last_id()
        assert.matches("^%d+%-2$", last)
        c1:close()
        assert.is_true(wait_until(function() return s1.hub:connection_count("room") == 0 end))
        publish(s1, "room", 3)
        publish(s2, "room", 4)
        publish(s1, "room", 5)
        local got2, failed = {}, {}
        local c2 = sb.connect(s2:url("/c/room"), { recover = true, since = last, reconnect = false })
        later(function() c2:close() end)
        c2:on("tick", function(e) got2[#got2 + 1] = e.n end)
        c2:on("recovery-failed", function(e) failed[#failed + 1] = e end)
        assert.is_true(wait_until(function() return #got2 == 3 end))
        s1.hub:publish("room", "tick", { n = 6 })
        assert.is_true(wait_until(function() return #got2 == 4 end))
        settle(0.1)
        assert.same({ 3, 4, 5, 6 }, got2)
        assert.same({}, failed)
        assert.equal(last:match("^(%d+)") .. "-6", c2:last_id())
    end)

    it("caps the shared history by count: older positions get recovery-failed", function()
        local s1, s2 = listen("cap-a", { ["capped"] = 3 }), listen("cap-b", { ["capped"] = 3 })
        assert.is_true(R.connected(s1.hub, s2.hub))
        local c = stream(s1, "/sse/capped")
        assert.is_true(wait_until(function() return s1.hub:connection_count("capped") == 1 end))
        settle(0.1)
        s1.hub:publish("capped", "tick", { n = 1 })
        assert.is_true(c:wait(function(x) return #ticks(x) >= 1 end))
        local first = ticks(c)[1].id
        for n = 2, 6 do
            s2.hub:publish("capped", "tick", { n = n })
        end
        assert.is_true(c:wait(function(x) return #ticks(x) >= 6 end))
        local third = ticks(c)[3].id
        c:close()
        -- five missed, three kept: history-expired, then live from the position
        local r = stream(s2, "/sse/capped", { ["Last-Event-ID"] = first })
        assert.is_true(r:wait(function(x) return #failures(x) == 1 end))
        local fail = failures(r)[1]
        local info = cjson.decode(fail.data)
        assert.equal("history-expired", info.reason)
        assert.equal(first, info.lastEventId)
        assert.equal(6, info.offset)
        assert.equal(first:match("^(%d+)") .. "-6", fail.id)
        assert.equal(0, #ticks(r))
        -- three missed, three kept: replayed
        local r2 = stream(s1, "/sse/capped", { ["Last-Event-ID"] = third })
        assert.is_true(r2:wait(function(x) return #ticks(x) >= 3 end))
        assert.same({ 4, 5, 6 }, ns(ticks(r2)))
        assert.equal(1, metric(s2, "switchboard_recovery_failures_total"))
    end)

    it("ages the shared history out by the ttl rule", function()
        local rules = { ["aged"] = { count = 100, ttl = 0.5 } }
        local s1, s2 = listen("age-a", rules), listen("age-b", rules)
        assert.is_true(R.connected(s1.hub, s2.hub))
        local c = stream(s1, "/sse/aged")
        assert.is_true(wait_until(function() return s1.hub:connection_count("aged") == 1 end))
        settle(0.1)
        s1.hub:publish("aged", "tick", { n = 1 })
        s1.hub:publish("aged", "tick", { n = 2 })
        assert.is_true(c:wait(function(x) return #ticks(x) >= 2 end))
        local first = ticks(c)[1].id
        c:close()
        -- within the ttl: replayed on the other node
        local r = stream(s2, "/sse/aged", { ["Last-Event-ID"] = first })
        assert.is_true(r:wait(function(x) return #ticks(x) >= 1 end))
        assert.same({ 2 }, ns(ticks(r)))
        r:close()
        settle(0.6)
        -- past it: history-expired
        local r2 = stream(s2, "/sse/aged", { ["Last-Event-ID"] = first })
        assert.is_true(r2:wait(function(x) return #failures(x) == 1 end))
        assert.equal("history-expired", cjson.decode(failures(r2)[1].data).reason)
        assert.equal(0, #ticks(r2))
    end)

    it("reports a Redis outage and a Redis restart to recovering clients, and resumes numbering", function()
        local s1, s2 = listen("rr-a"), listen("rr-b")
        assert.is_true(R.connected(s1.hub, s2.hub))
        local live = stream(s1, "/sse/log")
        local c = stream(s2, "/sse/log")
        following(s1, s2, "log", 2)
        s1.hub:publish("log", "tick", { n = 1 })
        assert.is_true(c:wait(function(x) return #ticks(x) >= 1 end))
        local before = ticks(c)[1].id
        c:close()

        redis:kill()
        assert.is_true(wait_until(function()
            return not s1:cluster_stats().connected and not s2:cluster_stats().connected
        end))
        -- local fan-out goes on, with local ids and counted as lost
        local lost0 = s1:cluster_stats().lost
        s1.hub:publish("log", "tick", { n = 2 })
        assert.is_true(live:wait(function(x) return #ticks(x) >= 2 end))
        assert.equal(lost0 + 1, s1:cluster_stats().lost)
        assert.are_not.equal(before:match("^%d+"), ticks(live)[2].id:match("^%d+"))
        -- resuming with a cluster id meanwhile: redis-unavailable
        local r = stream(s2, "/sse/log", { ["Last-Event-ID"] = before })
        assert.is_true(r:wait(function(x) return #failures(x) == 1 end))
        assert.equal("redis-unavailable", cjson.decode(failures(r)[1].data).reason)
        r:close()

        redis:launch()       -- no persistence: the history is gone
        assert.is_true(R.connected(s1.hub, s2.hub))
        -- (what other nodes publish before node A has read the channel's
        -- position again is lost for its live streams, like everything
        -- published during the outage: A publishes first)
        s1.hub:publish("log", "tick", { n = 3 })
        assert.is_true(live:wait(function(x) return #ticks(x) >= 3 end))
        local after = ticks(live)[3].id
        assert.matches("^%d+%-1$", after)                 -- a new epoch
        assert.are_not.equal(before:match("^%d+"), after:match("^%d+"))
        s2.hub:publish("log", "tick", { n = 4 })
        assert.is_true(live:wait(function(x) return #ticks(x) >= 4 end))
        local now = ticks(live)[4].id
        assert.equal(after:match("^%d+") .. "-2", now)
        -- the old id belongs to the epoch Redis lost
        local r2 = stream(s2, "/sse/log", { ["Last-Event-ID"] = before })
        assert.is_true(r2:wait(function(x) return #failures(x) == 1 end))
        local info = cjson.decode(failures(r2)[1].data)
        assert.equal("epoch-changed", info.reason)
        assert.equal(now, failures(r2)[1].id)
        -- and the new one resumes on either node
        local r3 = stream(s2, "/sse/log", { ["Last-Event-ID"] = after })
        assert.is_true(r3:wait(function(x) return #ticks(x) >= 1 end))
        assert.same({ 4 }, ns(ticks(r3)))
        assert.is_true(#logs > 0)
    end)

    it("numbers on through a SCRIPT FLUSH, and delivers what Redis refuses locally without an id", function()
        local s1 = listen("fl-a")
        assert.is_true(R.connected(s1.hub))
        local c = stream(s1, "/sse/fl")
        assert.is_true(wait_until(function() return s1.hub:connection_count("fl") == 1 end))
        settle(0.1)
        s1.hub:publish("fl", "tick", { n = 1 })
        assert.is_true(c:wait(function(x) return #ticks(x) >= 1 end))
        assert.equal("+OK", redis:command("SCRIPT FLUSH"))
        s1.hub:publish("fl", "tick", { n = 2 })          -- EVALSHA refused: sent again
        assert.is_true(c:wait(function(x) return #ticks(x) >= 2 end))
        local epoch = ticks(c)[1].id:match("^%d+")
        assert.equal(epoch .. "-2", ticks(c)[2].id)
        assert.equal(0, s1:cluster_stats().unnumbered)
        -- a position key of the wrong type: Redis refuses every script
        local logs0 = #logs
        assert.equal(":1", redis:command("DEL sb:hpos:fl"))
        assert.equal("+OK", redis:command("SET sb:hpos:fl broken"))
        s1.hub:publish("fl", "tick", { n = 3 })
        assert.is_true(c:wait(function(x) return #ticks(x) >= 3 end))
        assert.is_nil(ticks(c)[3].id)                     -- no id: not in any history
        assert.same({ 1, 2, 3 }, ns(ticks(c)))
        assert.equal(1, s1:cluster_stats().unnumbered)
        assert.is_true(#logs > logs0)
        redis:command("DEL sb:hpos:fl")
    end)

    it("starts a new epoch when Redis restarted with its data (it may have rolled back)", function()
        local s1 = listen("gen-a")
        assert.is_true(R.connected(s1.hub))
        local c = stream(s1, "/sse/gen")
        assert.is_true(wait_until(function() return s1.hub:connection_count("gen") == 1 end))
        settle(0.1)
        s1.hub:publish("gen", "tick", { n = 1 })
        assert.is_true(c:wait(function(x) return #ticks(x) >= 1 end))
        local before = ticks(c)[1].id
        -- what a restart from a snapshot looks like: same keys, new run id
        assert.equal("+OK", redis:command("SET sb:runid older-run"))
        redis:command("CLIENT KILL TYPE normal")
        assert.is_true(wait_until(function() return s1:cluster_stats().outages >= 1 end))
        assert.is_true(R.connected(s1.hub))
        settle(0.1)
        s1.hub:publish("gen", "tick", { n = 2 })
        assert.is_true(c:wait(function(x) return #ticks(x) >= 2 end))
        local after = ticks(c)[2].id
        assert.matches("^%d+%-1$", after)
        assert.are_not.equal(before:match("^%d+"), after:match("^%d+"))
    end)
end)
