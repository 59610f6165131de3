-- The lobby and ticker pages in a real browser (Debian's Chromium driven
-- by npm puppeteer-core, spec/browser/pages.js): examples/lobby.lua with
-- two seats per game and examples/ticker.lua ticking fast, both served
-- here; a browser context per person.  Assertions are what people see.
local support = require "support"
local browser = require "browser_helper"
local lobby = require "examples.lobby"
local ticker = require "examples.ticker"

local why_not = browser.missing()
if why_not then
    describe("the lobby and ticker pages in Chromium", function()
        pending(why_not)
    end)
    return
end

describe("the lobby and ticker pages in Chromium", function()
    local lobby_app, ticker_app, run

    setup(function()
        lobby_app = assert(lobby.start({ port = 0, max_players = 2 }))
        ticker_app = assert(ticker.start({ port = 0, interval = 0.2 }))
        run = browser.run("pages.js", { "http://127.0.0.1:" .. lobby_app.port,
            "http://127.0.0.1:" .. ticker_app.port }, function() end, 90)
    end)

    teardown(function()
        lobby_app.close()
        ticker_app.close()
        support.settle(0.05)
    end)

    it("runs both pages to the end with no console error, failed request or exception", function()
        assert.is_nil(run.error)
        assert.is_truthy(run.done)
        assert.are.same({}, run.done.errors, browser.show_errors(run.done.errors))
    end)

    describe("lobby", function()
        local function r()
            return assert(run.scenarios.lobby, "no lobby result")
        end

        it("says there is no game yet, then shows a new game with its free seat to others", function()
            assert.are.equal("no games yet: start one", r().empty)
            assert.are.equal(1, #r().benSees)
            assert.matches("^1 / 2", r().benSees[1].count)
            assert.are.equal("Take a seat", r().benSees[1].button)
            assert.is_true(r().benSees[1].enabled)
        end)

        it("shows a full game as full to a newcomer, with no way to join it", function()
            local g = r().catSees[1]
            assert.matches("^2 / 2", g.count)
            assert.are.equal("full", g.button)
            assert.is_false(g.enabled)
        end)

        it("shows every game's seats live, and one's own game as such", function()
            local seen = {}
            for _, g in ipairs(r().anaSees) do
                seen[g.count:match("^%d / %d")] = g.button
            end
            assert.are.same({ ["2 / 2"] = "you're in", ["1 / 2"] = "Take a seat" }, seen)
        end)

        it("frees the seat for everyone when a player leaves", function()
            assert.matches("^You left game%-", r().anaMe)
            local counts = {}
            for _, g in ipairs(r().afterLeave) do
                counts[#counts + 1] = g.count:match("^%d / %d")
            end
            assert.are.same({ "1 / 2", "1 / 2" }, counts)
        end)
    end)

    describe("ticker", function()
        local function r()
            return assert(run.scenarios.ticker, "no ticker result")
        end

        it("shows the count moving, over EventSource", function()
            assert.is_true(r().counted[2] >= r().counted[1] + 2)
            assert.matches("EventSource", r().via)
            assert.are.equal("online", r().state)
        end)

        it("shows how many pages watch, as they come and go", function()
            assert.are.equal("1 page", r().alone)
            assert.are.equal("2 pages", r().together)
        end)

        it("falls back to the WebSocket where /sse/ is blocked, and says so", function()
            assert.matches("WebSocket", r().fallback.via)
            assert.are.equal("live (WebSocket)", r().fallback.status)
        end)
    end)
end)
