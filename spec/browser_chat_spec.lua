-- The chat page in a real browser: Debian's Chromium driven by npm
-- puppeteer-core (spec/browser/chat.js), two users in two browser
-- contexts, once over each protocol the page offers.  examples/chat.lua
-- runs here, in this process; when the driver asks, it is stopped and
-- started again on the same port with the same hub (its rooms' history
-- outlives the listener, as a history in Redis outlives a process).
-- Every assertion is about what the users see on their pages.
local support = require "support"
local http = require "http_helper"
local browser = require "browser_helper"
local chat = require "examples.chat"

local why_not = browser.missing()
if why_not then
    describe("the chat page in Chromium", function()
        pending(why_not)
    end)
    return
end

local PROTOCOLS = { "native", "phoenix", "sse" }

local function has(list, pattern)
    for _, v in ipairs(list or {}) do
        if tostring(v):find(pattern, 1, true) then
            return true
        end
    end
    return false
end

describe("the chat page in Chromium", function()
    local app, hub, port, run
    local restarts = 0

    setup(function()
        app = assert(chat.start({ port = 0 }))
        hub, port = app.hub, app.port
        run = browser.run("chat.js", { "http://127.0.0.1:" .. port, table.concat(PROTOCOLS, ",") },
            function(ask)
                if ask == "stop" then
                    app.close()
                    app = nil
                elseif ask == "start" then
                    -- the old listener's port is free once its close is
                    -- through: try until it is (bounded)
                    support.wait_for(function()
                        app = chat.start({ port = port, hub = hub })
                        return app
                    end, 5)
                    restarts = restarts + 1
                end
            end, 150)
    end)

    teardown(function()
        if app then
            app.close()
        end
        support.settle(0.05)
    end)

    it("runs every scenario to the end", function()
        assert.is_nil(run.error)
        assert.is_truthy(run.done)
        assert.are.equal(#PROTOCOLS, restarts)
    end)

    it("shows no console error, failed request or exception outside the restarts", function()
        assert.is_truthy(run.done)
        assert.are.same({}, run.done.errors, browser.show_errors(run.done.errors))
    end)

    for _, proto in ipairs(PROTOCOLS) do
        describe("over " .. proto, function()
            local function r()
                return assert(run.scenarios[proto], "no result for " .. proto)
            end

            it("says who, where and how in the header", function()
                assert.matches("ben in room:e2e%-" .. proto, r().where)
            end)

            it("shows the typing indicator and the messages both ways", function()
                assert.are.equal("ana is typing…", r().typingSeen)
                assert.is_true(has(r().afterB.log, "anahello ben"))
                assert.is_true(has(r().afterA.log, "benhi ana"))
            end)

            it("shows a page without network as offline, and the other page sees it leave", function()
                local off = r().offline
                assert.are.equal("offline", off.state)
                assert.are.equal("offline: waiting for the network", off.status)
                assert.is_true(off.stale)
                assert.is_false(off.inputEnabled)
            end)

            it("shows the connection lost while the server restarts", function()
                local during = r().duringRestart
                assert.is_true(during.state == "retrying" or during.state == "connecting")
                assert.matches("connection lost", during.status .. " " .. table.concat(during.conn, " "))
                assert.is_true(during.stale)
                assert.is_false(during.inputEnabled)
            end)

            it("catches up from history after the restart, marked, once, and nothing twice", function()
                local a = r().afterA
                assert.are.same({ "ana", "ben" }, a.people)
                assert.are.equal(1, #a.missed)
                assert.matches("benwhile you were away", a.missed[1])
                assert.are.same({ "1 message sent while you were away" }, a.missedHeading)
                assert.matches("^%d%d:%d%doffline %(no network%) — back at %d%d:%d%d, 1 missed message marked below$",
                    a.conn[#a.conn])
                assert.are.same({}, r().doublesA)
                -- ben was online all along but for the restart: nothing missed, nothing twice
                local b_conn = r().afterB.conn
                assert.matches("connection lost — back at %d%d:%d%d, nothing missed$", b_conn[#b_conn])
                assert.are.same({}, r().afterB.missed)
                assert.are.same({}, r().doublesB)
            end)

            it("sees a closed page leave", function()
                local a = r().afterClose
                assert.are.same({ "ana" }, a.people)
                assert.is_true(has(a.log, "ben left"))
                assert.are.equal("online", a.state)
            end)
        end)
    end

    it("SSE: EventSource resumes with Last-Event-ID after the restart, a page back from offline with ?lastEventId=",
        function()
        local requests = assert(run.scenarios.sse).sse
        local header, query = false, false
        for _, q in ipairs(requests) do
            if q.who == "ben" and type(q.sentLastEventId) == "string"
                and q.sentLastEventId:match("^%d+%-%d+$") then
                header = true
            end
            if q.who == "ana" and q.url:match("lastEventId=%d+%-%d+") then
                query = true
            end
        end
        assert.is_true(header, "ben's EventSource never sent Last-Event-ID")
        assert.is_true(query, "ana's page never resumed with ?lastEventId=")
        -- and the server restarted last (for the SSE pages) took both as resumes
        local metrics = http.request(port, "GET", "/metrics")
        assert.are.equal(200, metrics.status)
        assert.are.equal("2", metrics.body:match("\nswitchboard_recoveries_total (%d+)"))
    end)

    it("is usable at phone width (390 px): nothing wider than the screen, send button and people in view", function()
        local p = assert(run.scenarios.sse).phone
        assert.are.equal(390, p.innerWidth)
        assert.is_true(p.scrollWidth <= p.innerWidth, "page is " .. p.scrollWidth .. " px wide")
        assert.is_true(p.sendRight <= p.innerWidth and p.sendBottom <= p.innerHeight)
        assert.is_true(p.peopleHeight > 0 and p.peopleTop < p.innerHeight / 2)
    end)
end)
